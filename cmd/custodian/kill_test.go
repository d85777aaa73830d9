package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKill9DuringWrites kills a `custodian serve` process with SIGKILL while sign-ups
// and refreshes run against it on SQLite: the file passes integrity_check and the
// foreign-key check, and holds no half-written customer, token family or outbox row.
func TestKill9DuringWrites(t *testing.T) {
	db := filepath.Join(t.TempDir(), "custodian.db")
	n := startNode(t, map[string]string{"CUSTODIAN_DATABASE_URL": "sqlite:" + db, "CUSTODIAN_SECRET": strings.Repeat("k", 48),
		"CUSTODIAN_LOG_LEVEL": "error"})
	base := n.base
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var signups, refreshes atomic.Int64
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 5 * time.Second}
	anonymous := func() (string, string, bool) {
		resp, err := c.Get(base + "/customerlogin/auth/anonymous/login?tenant=" + demoTenant + "&client_id=" + demoPublicClient)
		if err != nil {
			return "", "", false // killed
		}
		var anon map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&anon)
		resp.Body.Close()
		tok, _ := anon["access_token"].(string)
		rt, _ := anon["refresh_token"].(string)
		return tok, rt, true
	}
	for w := range 2 { // sign-ups
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				tok, _, ok := anonymous()
				if !ok {
					return
				}
				body := fmt.Sprintf(`{"email":"kill%d-%d@example.com","password":"password123 horse"}`, w, i)
				req, _ := http.NewRequest(http.MethodPost, base+"/customer/"+demoTenant+"/signup", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				if resp, err := c.Do(req); err == nil {
					if resp.StatusCode < 300 {
						signups.Add(1)
					}
					resp.Body.Close()
				}
			}
		})
	}
	for range 2 { // refresh chains
		wg.Go(func() {
			_, rt, ok := anonymous()
			for ok && ctx.Err() == nil {
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {demoPublicClient}}
				resp, err := c.PostForm(base+"/oauth2/"+demoTenant+"/token", form)
				if err != nil {
					return
				}
				var next map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&next)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					refreshes.Add(1)
					rt, _ = next["refresh_token"].(string)
				}
			}
		})
	}
	time.Sleep(3 * time.Second)
	if err := n.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	n.wait()
	stop()
	wg.Wait()
	if refreshes.Load() == 0 {
		t.Fatalf("no write got through before the kill (sign-ups %d, refreshes %d)", signups.Load(), refreshes.Load())
	}
	t.Logf("killed after %d sign-ups and %d refreshes", signups.Load(), refreshes.Load())

	conn, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var integrity string
	if err := conn.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check: %q %v", integrity, err)
	}
	rows, err := conn.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Error("foreign_key_check reports violations")
	}
	rows.Close()
	for _, q := range []struct{ what, sql string }{
		{"customers without a password", `SELECT COUNT(*) FROM customers WHERE email LIKE 'kill%' AND password_hash = ''`},
		{"refresh tokens without their access token", `SELECT COUNT(*) FROM oauth2_tokens r WHERE r.kind = 'refresh' AND NOT EXISTS
			(SELECT 1 FROM oauth2_tokens a WHERE a.kind = 'access' AND a.request_id = r.request_id)`},
		{"outbox rows without a recipient or kind", `SELECT COUNT(*) FROM outbox WHERE recipient = '' OR kind = ''`},
	} {
		var count int
		if err := conn.QueryRow(q.sql).Scan(&count); err != nil {
			t.Fatalf("%s: %v", q.what, err)
		}
		if count != 0 {
			t.Errorf("%d %s after the kill", count, q.what)
		}
	}
}
