package custodian_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// bulkDo sends a bulk request to the admin API and returns the status, the content type
// and the body's JSON lines.
func bulkDo(t *testing.T, e *env, method, path, contentType, token string, body io.Reader) (int, string, []map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, e.admin+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), lines
}

// TestAdminBulkImportExport: the admin API's streaming import answers a report line per
// input line and a summary, refuses a bad line by number without stopping, writes nothing
// on a dry run, needs the admin credential and NDJSON, and the export streams the tenant
// back in the same format; an imported customer signs in with the password they had.
func TestAdminBulkImportExport(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			path := "/admin/tenants/" + testTenant + "/customers/"
			hash, err := customer.DefaultPasswordHasher().Hash(shopperPass)
			if err != nil {
				t.Fatal(err)
			}
			file := fmt.Sprintf(`{"email":"bulk1@example.com","externalId":"b-1","firstName":"Bulk","password":{"format":"custodian","hash":%q}}
{"email":"not an address"}

{"email":"bulk2@example.com","b2b":{"legalEntities":[{"id":"le-7","name":"ACME"}]}}
`, hash)

			_, _, seeded := bulkDo(t, e, http.MethodGet, path+"export", "", adminToken, nil) // the env's own customers
			status, ctype, lines := bulkDo(t, e, http.MethodPost, path+"import?dryRun=true", "application/x-ndjson", adminToken, strings.NewReader(file))
			if status != http.StatusOK || ctype != "application/x-ndjson" || len(lines) != 4 {
				t.Fatalf("dry run: %d %s %v", status, ctype, lines)
			}
			if sum, _ := lines[3]["summary"].(map[string]any); sum["dryRun"] != true || sum["created"] != float64(2) || sum["refused"] != float64(1) {
				t.Errorf("dry-run summary: %v", lines[3])
			}
			if _, _, got := bulkDo(t, e, http.MethodGet, path+"export", "", adminToken, nil); len(got) != len(seeded) {
				t.Errorf("the dry run wrote %d customers", len(got))
			}

			status, _, lines = bulkDo(t, e, http.MethodPost, path+"import", "application/x-ndjson; charset=utf-8", adminToken, strings.NewReader(file))
			if status != http.StatusOK || len(lines) != 4 {
				t.Fatalf("import: %d %v", status, lines)
			}
			if lines[0]["line"] != float64(1) || lines[0]["outcome"] != "created" || lines[0]["customerId"] == nil {
				t.Errorf("line 1: %v", lines[0])
			}
			if lines[1]["line"] != float64(2) || lines[1]["outcome"] != "refused" || !strings.Contains(fmt.Sprint(lines[1]["reason"]), "email") {
				t.Errorf("line 2: %v", lines[1])
			}
			if lines[2]["line"] != float64(4) || lines[2]["outcome"] != "created" {
				t.Errorf("line 4: %v", lines[2])
			}
			// A re-run updates and never duplicates.
			_, _, lines = bulkDo(t, e, http.MethodPost, path+"import", "application/x-ndjson", adminToken, strings.NewReader(file))
			if sum, _ := lines[3]["summary"].(map[string]any); sum["updated"] != float64(2) || sum["created"] != float64(0) {
				t.Errorf("re-run summary: %v", lines[3])
			}
			if status, _ := tokenRequestPassword(t, e, "bulk1@example.com", shopperPass); status != http.StatusOK {
				t.Errorf("the imported customer cannot sign in: %d", status)
			}

			status, ctype, exported := bulkDo(t, e, http.MethodGet, path+"export", "", adminToken, nil)
			exported = exported[len(seeded):]
			if status != http.StatusOK || ctype != "application/x-ndjson" || len(exported) != 2 || exported[0]["email"] != "bulk1@example.com" {
				t.Fatalf("export: %d %s %v", status, ctype, exported)
			}
			if pw, _ := exported[0]["password"].(map[string]any); pw["format"] != "custodian" || pw["hash"] != hash {
				t.Errorf("exported password: %v", exported[0]["password"])
			}
			if b2b, _ := exported[1]["b2b"].(map[string]any); fmt.Sprint(b2b["legalEntities"]) != "[map[id:le-7 name:ACME]]" {
				t.Errorf("exported memberships: %v", exported[1]["b2b"])
			}

			// Refusals in the admin API's error shape.
			for _, tc := range []struct {
				name, method, path, ctype, token string
				status                           int
				typ                              string
			}{
				{"no credential", http.MethodPost, path + "import", "application/x-ndjson", "", 401, "unauthorized"},
				{"wrong credential", http.MethodGet, path + "export", "", "wrong", 401, "unauthorized"},
				{"not NDJSON", http.MethodPost, path + "import", "application/json", adminToken, 415, "unsupported_media_type"},
				{"bad dryRun", http.MethodPost, path + "import?dryRun=yes", "application/x-ndjson", adminToken, 400, "bad_request"},
				{"unknown tenant", http.MethodPost, "/admin/tenants/nope/customers/import", "application/x-ndjson", adminToken, 404, "resource_not_found"},
				{"unknown tenant export", http.MethodGet, "/admin/tenants/nope/customers/export", "", adminToken, 404, "resource_not_found"},
			} {
				status, _, lines := bulkDo(t, e, tc.method, tc.path, tc.ctype, tc.token, strings.NewReader(`{"email":"x@example.com"}`))
				if status != tc.status || len(lines) != 1 || lines[0]["type"] != tc.typ || lines[0]["status"] != float64(tc.status) {
					t.Errorf("%s: %d %v", tc.name, status, lines)
				}
			}
			if _, _, got := bulkDo(t, e, http.MethodGet, path+"export", "", adminToken, nil); len(got) != len(seeded)+2 {
				t.Errorf("a refused request wrote: %d customers", len(got))
			}
		})
	}
}

// TestAdminBulkImportLarge: a body far over the admin API's body limit streams through,
// and the report comes back while the body is still being sent.
func TestAdminBulkImportLarge(t *testing.T) {
	b := storagetest.Backends(t)[0]
	e := newEnv(t, b)
	const n = 3000
	pr, pw := io.Pipe()
	go func() {
		for i := range n {
			fmt.Fprintf(pw, `{"email":"big%d@example.com","attributes":[{"pad":"%s"}]}`+"\n", i, strings.Repeat("y", 100))
		}
		pw.Close()
	}()
	status, _, lines := bulkDo(t, e, http.MethodPost, "/admin/tenants/"+testTenant+"/customers/import", "application/x-ndjson", adminToken, pr)
	if status != http.StatusOK || len(lines) != n+1 {
		t.Fatalf("%d, %d lines", status, len(lines))
	}
	if sum, _ := lines[n]["summary"].(map[string]any); sum["created"] != float64(n) {
		t.Errorf("summary: %v", lines[n])
	}
}
