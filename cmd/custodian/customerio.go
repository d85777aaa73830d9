package main

// customer import and customer export (CONTRACT.md §6).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/custodian-id/custodian/customer"
)

// isTerminal reports whether w is a terminal (the progress bar shows only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func (c *cli) customerImport(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --file F [--dry-run] [--allow-insecure-legacy-hashes] [--database URL]",
		"Imports customers from a JSON Lines file (one customer per line, CONTRACT.md §6): a line is matched\n"+
			"to a customer by externalId, else by e-mail, and creates or updates it; a re-run updates, never\n"+
			"duplicates. The file is read as a stream and written in batches, each in one transaction. Every\n"+
			"refused line is reported with its number and reason, the others are imported; the exit status\n"+
			"is 1 when any line was refused", func(w io.Writer) {
			fmt.Fprint(w, `Password formats (password: {format, hash, salt?}): bcrypt, argon2, scrypt, pbkdf2, django,
aspnet-identity, magento2, firebase-scrypt (the project's parameters are the tenant's import.firebase.*
settings), custodian (Custodian's own export). The fast salted digests md5, sha1, sha256, sha512 and
their -salt-suffix forms are refused unless --allow-insecure-legacy-hashes is given. An imported hash is
replaced by Custodian's argon2id at the customer's first sign-in. README.md, section "Moving a shop in",
has the whole format and docs/import-example.jsonl an example.
`)
		})
	o := defaultOptions()
	configFlags(fs, &o, "database")
	var (
		tenant, file string
		opt          customer.ImportOptions
	)
	fs.StringVar(&tenant, "tenant", "", "`tenant` to import into (required)")
	fs.StringVar(&file, "file", "", "JSON Lines `file` to import, - for standard input (required)")
	fs.BoolVar(&opt.DryRun, "dry-run", false, "validate and match every line, write nothing")
	fs.BoolVar(&opt.AllowCrackableLegacyHashes, "allow-insecure-legacy-hashes", false,
		"accept fast salted MD5/SHA-1/SHA-2 digests, crackable offline if the old platform's table leaked")
	fs.IntVar(&opt.BatchSize, "batch", customer.DefaultImportBatch, "lines per transaction (1 to 5000)")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	if err := required(fs, "tenant", "file"); err != nil {
		return c.usageError(fs, err)
	}
	if opt.BatchSize < 1 || opt.BatchSize > 5000 {
		return c.usageError(fs, fmt.Errorf("--batch must be from 1 to 5000, not %d", opt.BatchSize))
	}
	in, size := c.stdin, int64(-1)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return c.fail(exitFailure, err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = f
	}
	srv, code, ok := c.open(fs, &o)
	if !ok {
		return code
	}
	defer srv.Close()
	if _, err := srv.OAuth.GetTenant(c.ctx, tenant); err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", tenant, err))
	}

	out := bufio.NewWriter(c.stdout)
	defer out.Flush()
	var bar *progressbar.ProgressBar
	if isTerminal(c.stderr) {
		bar = progressbar.NewOptions64(size, progressbar.OptionSetWriter(c.stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("importing"), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
		r := progressbar.NewReader(in, bar)
		in = &r
	}
	opt.Actor = "cli"
	opt.Report = func(r customer.ImportResult) error {
		if r.Outcome != customer.ImportRefused {
			return nil
		}
		if bar != nil {
			_ = bar.Clear()
		}
		_, err := fmt.Fprintf(out, "line %d: refused: %s\n", r.Line, r.Reason)
		if bar != nil {
			_ = out.Flush()
		}
		return err
	}
	started := time.Now()
	sum, err := srv.Customers.Import(c.ctx, tenant, in, opt)
	if bar != nil {
		_ = bar.Finish()
	}
	elapsed := time.Since(started)
	verb := "imported"
	if sum.DryRun {
		verb = "checked (dry run, nothing written)"
	}
	fmt.Fprintf(out, "%s %d lines in %s: %d created, %d updated, %d refused", verb, sum.Lines, elapsed.Round(time.Millisecond),
		sum.Created, sum.Updated, sum.Refused)
	if sum.WeakHash > 0 {
		fmt.Fprintf(out, "; %d weak password hashes (see import.weak_hash_action)", sum.WeakHash)
	}
	fmt.Fprintln(out)
	if err != nil {
		_ = out.Flush()
		return c.fail(exitFailure, fmt.Errorf("import stopped: %w", err))
	}
	if sum.Refused > 0 {
		return exitFailure
	}
	return exitOK
}

func (c *cli) customerExport(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T [--file F] [--database URL]",
		"Exports every customer of a tenant as JSON Lines (CONTRACT.md §6): profile, addresses, B2B\n"+
			"memberships, linked identities and the password hash as stored, with its format; `customer import`\n"+
			"reads it back losslessly, into this database or another. A file is written whole or not at all", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	var tenant, file string
	fs.StringVar(&tenant, "tenant", "", "`tenant` to export (required)")
	fs.StringVar(&file, "file", "-", "`file` to write, - for standard output")
	srv, code, ok := c.parseOpen(fs, &o, args, "tenant")
	if !ok {
		return code
	}
	defer srv.Close()
	if _, err := srv.OAuth.GetTenant(c.ctx, tenant); err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", tenant, err))
	}
	var dst io.Writer = c.stdout
	var tmp *os.File
	if file != "-" {
		// The export goes to a temporary file beside the target and is renamed into place
		// when complete, so a failure never leaves half a backup under the file's name.
		f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
		if err != nil {
			return c.fail(exitFailure, err)
		}
		tmp, dst = f, f
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
	}
	w := bufio.NewWriterSize(dst, 256<<10)
	n := 0
	err := srv.Customers.ExportTenant(c.ctx, tenant, func(l *customer.Line) error {
		b, err := customer.MarshalLine(l)
		if err != nil {
			return err
		}
		n++
		_, err = w.Write(b)
		return err
	})
	err = errors.Join(err, w.Flush())
	if err == nil && tmp != nil {
		err = errors.Join(tmp.Sync(), tmp.Chmod(0o600), tmp.Close())
		if err == nil {
			err = os.Rename(tmp.Name(), file)
		}
		if err == nil {
			tmp = nil
		}
	}
	if err != nil {
		return c.fail(exitFailure, fmt.Errorf("export: %w", err))
	}
	fmt.Fprintf(c.stderr, "exported %d customers of tenant %s\n", n, tenant)
	return exitOK
}
