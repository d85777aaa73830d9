package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"text/tabwriter"
	"time"

	"github.com/custodian-id/custodian/storage"
)

func (c *cli) migrateStatus(name string, args []string) int {
	fs := c.flagSet(name, "[--database URL]",
		"Lists every migration this binary carries, applied or pending (with when it was applied, in the\n"+
			"database's clock), and any the database has that this binary does not know; then the database's\n"+
			"version and the newest this binary knows. It only reads: it applies nothing and takes no lock", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	log, code, ok := c.databaseConfig(fs, &o)
	if !ok {
		return code
	}
	if path, ok := sqliteFile(o.Database); ok {
		if _, err := os.Stat(path); errors.Is(err, iofs.ErrNotExist) {
			return c.fail(exitFailure, fmt.Errorf("no database at %s (serve or migrate creates it)", path))
		}
	}
	st, err := storage.Connect(c.ctx, o.Database, storage.Options{Logger: log})
	if err != nil {
		return c.fail(exitFailure, err)
	}
	defer st.Close()
	status, err := st.SchemaStatus(c.ctx)
	if err != nil {
		return c.fail(exitFailure, err)
	}

	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	for _, m := range status.Migrations {
		state, at, name := "pending", "-", m.Name
		if m.Applied {
			state, at = "applied", m.AppliedAt.Format(time.DateTime)
		}
		if !m.Known {
			name = "(unknown to this binary)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", storage.FormatVersion(m.Version), name, state, at)
	}
	if err := tw.Flush(); err != nil {
		return c.fail(exitFailure, err)
	}
	fmt.Fprintf(c.stdout, "\ndatabase=%s\nbinary=%s\n", storage.FormatVersion(status.Database), storage.FormatVersion(status.Newest))
	switch n := status.Pending(); {
	case status.TooNew():
		fmt.Fprintf(c.stdout, "%v\n", &storage.SchemaTooNewError{Database: status.Database, Newest: status.Newest})
	case n > 0:
		fmt.Fprintf(c.stdout, "%d pending: 'custodian migrate' applies them (serve does at start)\n", n)
	default:
		fmt.Fprintln(c.stdout, "up to date")
	}
	return exitOK
}
