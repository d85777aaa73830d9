package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

func (c *cli) healthcheck(name string, args []string) int {
	fs := c.flagSet(name, "[--addr 127.0.0.1:8080] [--ready] [--timeout 5s]",
		"Asks the server listening on --addr (an unspecified host means loopback) for /healthz, or with --ready\n"+
			"for /readyz, and exits 0 when it answers 200, 1 otherwise. The container image's HEALTHCHECK runs\n"+
			"it, since the image has no curl", nil)
	o := defaultOptions()
	configFlags(fs, &o, "addr")
	ready := fs.Bool("ready", false, "ask /readyz (database reachable, node can sign) instead of /healthz (process up)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this `duration`")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	errs := []error{resolve(fs, &o, c.env)}
	errs = append(errs, o.problems(true, false)...)
	if *timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %v: want a positive duration", *timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return c.configError(err)
	}

	url := publicURLFor(o.Addr) + "/healthz"
	if *ready {
		url = publicURLFor(o.Addr) + "/readyz"
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
