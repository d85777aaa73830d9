package main

// The operator's commands over existing tenants, clients and customers: list, show,
// delete, rotate a client secret, find a customer by e-mail, set a password, unlock.
// Each prints a table (or KEY=VALUE lines for one object) by default and JSON with
// --json; each has its admin API route (README.md, "The operator's command line").

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// printJSON writes v as indented JSON.
func (c *cli) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail(exitFailure, err)
	}
	return exitOK
}

// table writes rows under a header, aligned in columns.
func (c *cli) table(header []string, rows [][]string) int {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return c.fail(exitFailure, err)
	}
	return exitOK
}

// orDash shows an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type tenantJSON struct {
	Name      string    `json:"name"`
	Issuer    string    `json:"issuer"`
	CreatedAt time.Time `json:"createdAt"`
}

func (c *cli) tenantList(name string, args []string) int {
	fs := c.flagSet(name, "[--json] [--database URL]",
		"Lists the tenants: name, issuer and creation time (admin API: GET /admin/tenants)", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	srv, code, ok := c.open(fs, &o)
	if !ok {
		return code
	}
	defer srv.Close()
	ts, err := srv.OAuth.ListTenants(c.ctx)
	if err != nil {
		return c.failDomain(err)
	}
	out := make([]tenantJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, tenantJSON{Name: t.Name, Issuer: srv.OAuth.Issuer(t.Name), CreatedAt: t.CreatedAt.UTC()})
	}
	if *asJSON {
		return c.printJSON(out)
	}
	rows := make([][]string, 0, len(out))
	for _, t := range out {
		rows = append(rows, []string{t.Name, t.Issuer, t.CreatedAt.Format(time.RFC3339)})
	}
	return c.table([]string{"NAME", "ISSUER", "CREATED"}, rows)
}

// clientJSON is a client as the command prints it: the admin API's fields; the secret
// never (only its hash is stored).
type clientJSON struct {
	ID                     string    `json:"id"`
	Name                   string    `json:"name,omitempty"`
	Public                 bool      `json:"public"`
	FirstParty             bool      `json:"firstParty"`
	RedirectURIs           []string  `json:"redirectUris"`
	PostLogoutRedirectURIs []string  `json:"postLogoutRedirectUris"`
	GrantTypes             []string  `json:"grantTypes"`
	Scopes                 []string  `json:"scopes"`
	Audience               []string  `json:"audience"`
	Behaviors              []string  `json:"behaviors"`
	CreatedAt              time.Time `json:"createdAt"`
	UpdatedAt              time.Time `json:"updatedAt"`
}

func viewClient(cl *oauth.Client) clientJSON {
	list := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return clientJSON{ID: cl.ID, Name: cl.Name, Public: cl.Public, FirstParty: cl.FirstParty, RedirectURIs: list(cl.RedirectURIs),
		PostLogoutRedirectURIs: list(cl.PostLogoutRedirectURIs), GrantTypes: list(cl.GrantTypes), Scopes: list(cl.Scopes),
		Audience: list(cl.Audience), Behaviors: list(cl.Behaviors), CreatedAt: cl.CreatedAt.UTC(), UpdatedAt: cl.UpdatedAt.UTC()}
}

func clientType(public bool) string {
	if public {
		return "public"
	}
	return "confidential"
}

// clientFlags registers --tenant and, with withID, --id, and --json when asked.
func clientFlags(fs *flag.FlagSet, withID, withJSON bool) (tenant, id *string, asJSON *bool) {
	tenant = fs.String("tenant", "", "`tenant` of the client (required)")
	if withID {
		id = fs.String("id", "", "client `id` (required)")
	}
	if withJSON {
		asJSON = fs.Bool("json", false, "print JSON instead of text")
	}
	return tenant, id, asJSON
}

func (c *cli) clientList(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T [--json] [--database URL]",
		"Lists a tenant's clients: id, type, first party, grant types, name (admin API: GET /admin/tenants/{tenant}/clients)", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	tenant, _, asJSON := clientFlags(fs, false, true)
	srv, code, ok := c.parseOpen(fs, &o, args, "tenant")
	if !ok {
		return code
	}
	defer srv.Close()
	if _, err := srv.OAuth.GetTenant(c.ctx, *tenant); err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", *tenant, err))
	}
	cs, err := srv.OAuth.ListClients(c.ctx, *tenant)
	if err != nil {
		return c.failDomain(err)
	}
	out := make([]clientJSON, 0, len(cs))
	for _, cl := range cs {
		out = append(out, viewClient(cl))
	}
	if *asJSON {
		return c.printJSON(out)
	}
	rows := make([][]string, 0, len(out))
	for _, cl := range out {
		rows = append(rows, []string{cl.ID, clientType(cl.Public), fmt.Sprint(cl.FirstParty), orDash(strings.Join(cl.GrantTypes, ",")), orDash(cl.Name)})
	}
	return c.table([]string{"ID", "TYPE", "FIRST-PARTY", "GRANTS", "NAME"}, rows)
}

func (c *cli) clientShow(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --id ID [--json] [--database URL]",
		"Prints a client's registration as KEY=VALUE lines (lists comma-separated); never its secret, of which only\n"+
			"a hash is kept (admin API: GET /admin/tenants/{tenant}/clients/{client})", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	tenant, id, asJSON := clientFlags(fs, true, true)
	srv, code, ok := c.parseOpen(fs, &o, args, "tenant", "id")
	if !ok {
		return code
	}
	defer srv.Close()
	cl, err := srv.OAuth.GetClient(c.ctx, *tenant, *id)
	if err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", *tenant, err))
	}
	v := viewClient(cl)
	if *asJSON {
		return c.printJSON(v)
	}
	for _, kv := range [][2]string{
		{"id", v.ID}, {"name", v.Name}, {"type", clientType(v.Public)}, {"first_party", fmt.Sprint(v.FirstParty)},
		{"redirect_uris", strings.Join(v.RedirectURIs, ",")}, {"post_logout_redirect_uris", strings.Join(v.PostLogoutRedirectURIs, ",")},
		{"grant_types", strings.Join(v.GrantTypes, ",")}, {"scopes", strings.Join(v.Scopes, ",")},
		{"audience", strings.Join(v.Audience, ",")}, {"behaviors", strings.Join(v.Behaviors, ",")},
		{"created_at", v.CreatedAt.Format(time.RFC3339)}, {"updated_at", v.UpdatedAt.Format(time.RFC3339)},
	} {
		fmt.Fprintf(c.stdout, "%s=%s\n", kv[0], kv[1])
	}
	return exitOK
}

func (c *cli) clientDelete(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --id ID [--database URL]",
		"Deletes a client; every token it holds or issued stops working with it, on every node at once\n"+
			"(admin API: DELETE /admin/tenants/{tenant}/clients/{client})", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	tenant, id, _ := clientFlags(fs, true, false)
	srv, code, ok := c.parseOpen(fs, &o, args, "tenant", "id")
	if !ok {
		return code
	}
	defer srv.Close()
	if err := srv.OAuth.DeleteClient(c.ctx, *tenant, *id); err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", *tenant, err))
	}
	fmt.Fprintf(c.stdout, "deleted client %s of tenant %s\n", *id, *tenant)
	return exitOK
}

func (c *cli) clientRotateSecret(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --id ID [--json] [--database URL]",
		"Gives a confidential client a new generated secret and prints it once (only its hash is kept). The old\n"+
			"secret stops working at once; tokens the client already holds keep working until they expire (delete\n"+
			"the client to end them too). A public client has no secret (admin API:\n"+
			"POST /admin/tenants/{tenant}/clients/{client}/secret)", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	tenant, id, asJSON := clientFlags(fs, true, true)
	srv, code, ok := c.parseOpen(fs, &o, args, "tenant", "id")
	if !ok {
		return code
	}
	defer srv.Close()
	secret, err := srv.OAuth.RotateClientSecret(c.ctx, *tenant, *id)
	if err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", *tenant, err))
	}
	fmt.Fprintln(c.stderr, "custodian: the new client secret is shown this once; only its hash is stored")
	if *asJSON {
		return c.printJSON(map[string]string{"id": *id, "secret": secret})
	}
	fmt.Fprintf(c.stdout, "client_id=%s\nclient_secret=%s\n", *id, secret)
	return exitOK
}

// customerJSON is a customer as `customer find` prints it.
type customerJSON struct {
	ID            int64               `json:"id"`
	EmailAddress  string              `json:"emailAddress"`
	FirstName     string              `json:"firstName"`
	LastName      string              `json:"lastName"`
	IsActive      bool                `json:"isActive"`
	OnHold        bool                `json:"onHold"`
	EmailVerified bool                `json:"emailVerified"`
	ExternalID    string              `json:"externalId,omitempty"`
	LoginState    customer.LoginState `json:"loginState"`
	CreatedAt     time.Time           `json:"createdAt"`
}

// customerFlags registers --tenant and --email.
func customerFlags(fs *flag.FlagSet) (tenant, email *string) {
	return fs.String("tenant", "", "`tenant` of the customer (required)"),
		fs.String("email", "", "the customer's e-mail `address`, compared as the sign-in compares it (case, Unicode form) (required)")
}

// findCustomer opens the server and finds the tenant and the customer by e-mail.
func (c *cli) findCustomer(fs *flag.FlagSet, o *options, tenant, email string) (*custodian.Server, *identity.Tenant, *customer.Account, int, bool) {
	srv, code, ok := c.open(fs, o)
	if !ok {
		return nil, nil, nil, code, false
	}
	t, err := srv.OAuth.GetTenant(c.ctx, tenant)
	if err != nil {
		srv.Close()
		return nil, nil, nil, c.failDomain(fmt.Errorf("tenant %s: %w", tenant, err)), false
	}
	a, err := srv.Customers.FindByEmail(c.ctx, tenant, email)
	if err != nil {
		srv.Close()
		return nil, nil, nil, c.failDomain(fmt.Errorf("customer %s: %w", email, err)), false
	}
	return srv, t, a, exitOK, true
}

func (c *cli) customerFind(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --email E [--json] [--database URL]",
		"Finds a customer by e-mail address and prints the account and its sign-in state; exits 1 when there is\n"+
			"none (admin API: GET /admin/tenants/{tenant}/customers?email=E)", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	tenant, email := customerFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of KEY=VALUE lines")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	if err := required(fs, "tenant", "email"); err != nil {
		return c.usageError(fs, err)
	}
	srv, t, a, code, ok := c.findCustomer(fs, &o, *tenant, *email)
	if !ok {
		return code
	}
	defer srv.Close()
	st, err := srv.Customers.LoginStateOf(c.ctx, t, a)
	if err != nil {
		return c.failDomain(err)
	}
	v := customerJSON{ID: a.ID, EmailAddress: a.Email, FirstName: a.FirstName, LastName: a.LastName, IsActive: a.Active,
		OnHold: a.OnHold, EmailVerified: a.EmailVerified, ExternalID: a.ExternalID, LoginState: st, CreatedAt: a.CreatedAt.UTC()}
	if *asJSON {
		return c.printJSON(v)
	}
	when := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.UTC().Format(time.RFC3339)
	}
	for _, kv := range [][2]string{
		{"customer_id", fmt.Sprint(v.ID)}, {"email", v.EmailAddress}, {"first_name", v.FirstName}, {"last_name", v.LastName},
		{"active", fmt.Sprint(v.IsActive)}, {"on_hold", fmt.Sprint(v.OnHold)}, {"email_verified", fmt.Sprint(v.EmailVerified)},
		{"external_id", v.ExternalID}, {"locked", fmt.Sprint(st.IsLocked)}, {"locked_until", when(st.LockedUntil)},
		{"failed_logins", fmt.Sprint(st.FailedLoginAttemptCount)}, {"last_login", when(st.LastLoginOn)},
		{"created_at", v.CreatedAt.Format(time.RFC3339)},
	} {
		fmt.Fprintf(c.stdout, "%s=%s\n", kv[0], kv[1])
	}
	return exitOK
}

func (c *cli) customerSetPassword(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --email E [--password P | --password-file F] [--database URL]",
		"Sets a customer's password. It is read from --password-file (\"-\": standard input), else typed twice\n"+
			"at a prompt without echo when standard input is a terminal, else the first line of standard input.\n"+
			"--password P works too (CONTRACT.md) but leaves the password in the shell history and in ps, and\n"+
			"says so on standard error. The tenant's password policy applies. Every token and browser session\n"+
			"of the customer ends and unused password reset links stop working: the customer signs in again\n"+
			"with the new password. A locked account stays locked ('customer unlock' unlocks it)\n"+
			"(admin API: PUT /admin/tenants/{tenant}/customers/{id}/password)", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	tenant, email := customerFlags(fs)
	file := fs.String("password-file", "", "read the password from the first line of this `file` (\"-\": standard input)")
	argv := fs.String("password", "", "the new `password` (visible in the shell history and in ps: prefer --password-file or the prompt)")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	if err := required(fs, "tenant", "email"); err != nil {
		return c.usageError(fs, err)
	}
	var password string
	switch {
	case *argv != "" && *file != "":
		return c.usageError(fs, errors.New("give the password once: --password or --password-file"))
	case *argv != "":
		fmt.Fprintln(c.stderr, "warning: a password given with --password stays in the shell history and is visible in ps; prefer --password-file or the prompt")
		password = *argv
	default:
		var err error
		if password, err = c.readPassword(*file); err != nil {
			return c.fail(exitUsage, err)
		}
	}
	srv, t, a, code, ok := c.findCustomer(fs, &o, *tenant, *email)
	if !ok {
		return code
	}
	defer srv.Close()
	if err := srv.Customers.SetPassword(c.ctx, t, a.ID, password); err != nil {
		return c.failDomain(fmt.Errorf("customer %s: %w", a.Email, validationText(err)))
	}
	fmt.Fprintf(c.stdout, "set the password of customer %d (%s); their sessions and tokens have ended\n", a.ID, a.Email)
	return exitOK
}

// validationText spells out the fields of a validation error, which prints only a
// summary.
func validationText(err error) error {
	var ve *identity.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	msgs := make([]string, 0, len(ve.Fields))
	for _, f := range ve.Fields {
		msgs = append(msgs, f.Field+" "+f.Message)
	}
	return fmt.Errorf("%w: %s", identity.ErrInvalid, strings.Join(msgs, "; "))
}

// readPassword reads a new password: from a file ("-": stdin), at a terminal prompt
// (twice, without echo), or from the first line of a non-terminal stdin.
func (c *cli) readPassword(file string) (string, error) {
	var r io.Reader
	switch {
	case file == "-":
		r = c.stdin
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		defer f.Close()
		r = f
	default:
		if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return c.promptPassword(int(f.Fd()))
		}
		r = c.stdin
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password given: type it at the prompt, pipe it on standard input or use --password-file")
	}
	return line, nil
}

func (c *cli) promptPassword(fd int) (string, error) {
	fmt.Fprint(c.stderr, "New password: ")
	p1, err := term.ReadPassword(fd)
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	fmt.Fprint(c.stderr, "Again: ")
	p2, err := term.ReadPassword(fd)
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if string(p1) != string(p2) {
		return "", errors.New("the two passwords differ")
	}
	if len(p1) == 0 {
		return "", errors.New("no password given")
	}
	return string(p1), nil
}

func (c *cli) customerUnlock(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --email E [--database URL]",
		"Unlocks a customer locked by failed sign-ins (or by an operator) and clears the failed-attempt count\n"+
			"(admin API: DELETE /admin/tenants/{tenant}/customers/{id}/lock)", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	tenant, email := customerFlags(fs)
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	if err := required(fs, "tenant", "email"); err != nil {
		return c.usageError(fs, err)
	}
	srv, t, a, code, ok := c.findCustomer(fs, &o, *tenant, *email)
	if !ok {
		return code
	}
	defer srv.Close()
	if err := srv.Customers.SetLock(c.ctx, t, a.ID, false); err != nil {
		return c.failDomain(fmt.Errorf("customer %s: %w", a.Email, err))
	}
	fmt.Fprintf(c.stdout, "unlocked customer %d (%s)\n", a.ID, a.Email)
	return exitOK
}
