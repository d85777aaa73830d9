// Command custodian runs and administers a Custodian server: `custodian serve` serves
// the HTTP surface; the other commands manage tenants, clients, customers and keys
// directly in the database. It only reads configuration and calls the library.
//
// Configuration comes from defaults, then a YAML config file (--config or
// CUSTODIAN_CONFIG; one key per configuration flag), then the environment
// (CUSTODIAN_DATABASE_URL, CUSTODIAN_ADDR, CUSTODIAN_PUBLIC_URL, CUSTODIAN_SECRET,
// CUSTODIAN_ADMIN_TOKEN, CUSTODIAN_SMTP_URL, CUSTODIAN_MAIL_FROM, CUSTODIAN_LOG_FORMAT,
// CUSTODIAN_LOG_LEVEL, CUSTODIAN_SHUTDOWN_DELAY, …), then flags. Exit status: 0
// success, 1 runtime failure (a database migrated by a newer release among them), 2
// usage or configuration error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, hurry, stop := signals()
	code := runSignalled(ctx, hurry, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signals ties the process's SIGINT and SIGTERM to two contexts: the first signal ends
// ctx (serve drains and stops), a second ends hurry (serve skips the rest of its drain
// delay and shuts down at once), and a third ends the process the default way.
func signals() (ctx, hurry context.Context, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	ctx, first := context.WithCancel(context.Background())
	hurry, second := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		for _, cancel := range []context.CancelFunc{first, second} {
			select {
			case <-ch:
				cancel()
			case <-done:
				return
			}
		}
		signal.Stop(ch) // the next signal ends the process at once
	}()
	return ctx, hurry, func() {
		signal.Stop(ch)
		close(done)
		first()
		second()
	}
}
