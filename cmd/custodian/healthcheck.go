package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

func (c *cli) healthcheck(name string, args []string) int {
	fs := c.flagSet(name, "[--admin-addr 127.0.0.1:8081] [--ready] [--timeout 5s]",
		"Asks the admin listener of the server (--admin-addr; an unspecified host means loopback) for /healthz,\n"+
			"or with --ready for /readyz, and exits 0 when it answers 200, 1 otherwise. The container image's\n"+
			"HEALTHCHECK runs it, since the image has no curl", nil)
	o := defaultOptions()
	configFlags(fs, &o, "admin-addr")
	ready := fs.Bool("ready", false, "ask /readyz (database reachable, node can sign) instead of /healthz (process up)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this `duration`")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	errs := []error{resolve(fs, &o, c.env)}
	errs = append(errs, o.problems(false, false)...)
	if err := checkAddr(o.AdminAddr); err != nil {
		errs = append(errs, fmt.Errorf("admin listen address (CUSTODIAN_ADMIN_ADDR) %w", err))
	}
	if *timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %v: want a positive duration", *timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return c.configError(err)
	}

	url := publicURLFor(o.AdminAddr) + "/healthz"
	if *ready {
		url = publicURLFor(o.AdminAddr) + "/readyz"
	}
	client := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{Proxy: nil}, // the local listener, never through a proxy
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, url, nil)
	if err != nil {
		return c.fail(exitFailure, err)
	}
	res, err := client.Do(req)
	if err != nil {
		return c.fail(exitFailure, fmt.Errorf("health check: %w", err))
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return c.fail(exitFailure, fmt.Errorf("health check: %s answered %s", url, res.Status))
	}
	fmt.Fprintf(c.stdout, "%s: %s\n", url, res.Status)
	return exitOK
}
