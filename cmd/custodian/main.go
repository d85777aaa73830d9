// Command custodian runs and administers a Custodian server: `custodian serve` serves
// the HTTP surface; the other commands manage tenants, clients, customers and keys
// directly in the database. It only reads configuration and calls the library.
//
// Configuration comes from defaults, then a YAML config file (--config or
// CUSTODIAN_CONFIG; one key per configuration flag), then the environment
// (CUSTODIAN_DATABASE_URL, CUSTODIAN_ADDR, CUSTODIAN_PUBLIC_URL, CUSTODIAN_SECRET,
// CUSTODIAN_ADMIN_TOKEN, CUSTODIAN_SMTP_URL, CUSTODIAN_MAIL_FROM, CUSTODIAN_LOG_FORMAT,
// CUSTODIAN_LOG_LEVEL), then flags. Exit status: 0 success, 1 runtime failure (a
// database migrated by a newer release among them), 2 usage or configuration error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	code := runIO(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
