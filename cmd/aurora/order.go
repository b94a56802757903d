package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/node/wire"
	"github.com/aurora-federation/aurora/treaty"
)

// apiClient resolves the API base (--api, else the home's api.listen, else
// 127.0.0.1:7070) and, when the home exists, its operator token.
func apiClient(cmd *cobra.Command) *client.Client {
	base, _ := cmd.Flags().GetString("api")
	token := ""
	if home, err := homeDir(cmd); err == nil {
		if base == "" {
			if cfg, err := node.LoadConfig(home, os.Environ()); err == nil {
				base = "http://" + cfg.API.Listen
			}
		}
		if t, err := node.LoadToken(home); err == nil {
			token = string(t)
		}
	}
	if base == "" {
		base = "http://127.0.0.1:7070"
	}
	return client.New(base, token)
}

func addAPIFlag(cmd *cobra.Command) {
	cmd.Flags().String("api", "", "node API base URL (default: the home's api.listen, else http://127.0.0.1:7070)")
}

func newOrderCmd() *cobra.Command {
	order := &cobra.Command{Use: "order", Short: "Submit and inspect compute orders"}
	var (
		keyFile, image, gpu, maxPrice string
		regions, providers, env, args []string
		duration, lifetime            time.Duration
		cpu, mem, disk, vram          int64
		wait                          bool
		specFile, template            string
		sets                          []string
	)
	submit := &cobra.Command{
		Use:   "submit",
		Short: "Sign an order with a client key and submit it",
		Example: `  aurora order submit --key client.key --image ghcr.io/acme/infer:1 --gpu A100:1 \
    --region eu-west --max-price 2.50/h --wait
  aurora order submit --key client.key -f job.toml --set max_price=3/h --set env.MODEL=llama
  aurora order submit --key client.key --template gpu-inference --set regions=eu-west`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" {
				return fmt.Errorf("--key is required")
			}
			k, err := node.LoadKey(keyFile)
			if err != nil {
				return err
			}
			var spec client.OrderSpec
			if specFile != "" || template != "" {
				for _, name := range []string{"image", "arg", "env", "gpu", "min-vram", "cpu", "memory", "disk", "duration", "lifetime", "region", "provider", "max-price"} {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("--%s: with -f or --template, set keys with --set (e.g. --set %s=...)", name, strings.ReplaceAll(name, "-", "_"))
					}
				}
				var data []byte
				if specFile != "" {
					if data, err = readSpecFile(cmd, specFile); err != nil {
						return err
					}
				}
				if spec, err = client.LoadSpec(template, specFile, data, sets); err != nil {
					return err
				}
			} else {
				if len(sets) > 0 {
					return fmt.Errorf("--set needs -f FILE or --template NAME")
				}
				if image == "" || maxPrice == "" {
					return fmt.Errorf("--image and --max-price are required (or -f FILE, or --template NAME)")
				}
				envs := map[string]string{}
				for _, e := range env {
					name, v, ok := strings.Cut(e, "=")
					if !ok {
						return fmt.Errorf("--env %q: want NAME=VALUE", e)
					}
					envs[name] = v
				}
				spec = client.OrderSpec{Image: image, Cmd: args, Env: envs, GPU: gpu, MinVRAM: vram, CPU: cpu, Memory: mem, Disk: disk,
					Duration: duration, Regions: regions, MaxPrice: maxPrice, Providers: providers, Lifetime: lifetime}
			}
			o, err := client.BuildOrder(k, spec, time.Now())
			if err != nil {
				return err
			}
			c := apiClient(cmd)
			resp, err := c.Submit(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s %s\n", resp.Result, resp.CID)
			if resp.Result == "denial" {
				var d treaty.Denial
				if err := treaty.DecodeJSON(resp.Record, &d); err == nil {
					fmt.Fprintf(out, "reasons: %s\n", strings.Join(d.Reasons, ", "))
				}
				return &exitError{code: 3, err: fmt.Errorf("order denied")}
			}
			var a treaty.Ack
			if err := treaty.DecodeJSON(resp.Record, &a); err == nil {
				fmt.Fprintf(out, "job:   %s\nroute: %s %s\nprice: $%.4f/h\n", resp.Job, a.Route.Kind, a.Route.Name, float64(a.Price)/1e6)
			}
			if !wait {
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			j, err := c.WaitSettled(ctx, resp.Job)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "status: %s\n", j.Status)
			if j.Status == treaty.StatusFailed {
				return &exitError{code: 4, err: fmt.Errorf("job failed")}
			}
			return nil
		},
	}
	f := submit.Flags()
	f.StringVar(&keyFile, "key", "", "client key file (aurora key new)")
	f.StringVar(&image, "image", "", "container image")
	f.StringArrayVar(&args, "arg", nil, "command argument (repeatable)")
	f.StringArrayVar(&env, "env", nil, "environment variable NAME=VALUE (repeatable)")
	f.StringVar(&gpu, "gpu", "", "GPU model and count, e.g. A100:1")
	f.Int64Var(&vram, "min-vram", 0, "minimum VRAM per GPU, MiB")
	f.Int64Var(&cpu, "cpu", 0, "CPU, millicores")
	f.Int64Var(&mem, "memory", 0, "memory, MiB")
	f.Int64Var(&disk, "disk", 0, "disk, MiB")
	f.DurationVar(&duration, "duration", time.Hour, "how long the workload runs")
	f.DurationVar(&lifetime, "lifetime", 10*time.Minute, "how long the order stays valid")
	f.StringArrayVar(&regions, "region", nil, "allowed region (repeatable; none = any)")
	f.StringArrayVar(&providers, "provider", nil, "allowed provider (repeatable; none = any)")
	f.StringVar(&maxPrice, "max-price", "", "price cap in USD per hour, e.g. 2.50/h")
	f.BoolVar(&wait, "wait", false, "wait until the job runs or fails")
	f.StringVarP(&specFile, "file", "f", "", "order spec file (TOML; - for stdin): keys image, cmd, env, gpu, min_vram, cpu, memory, disk, ports, duration, lifetime, regions, providers, max_price, min_reputation, template")
	f.StringVar(&template, "template", "", "start from a built-in spec template: "+strings.Join(client.Templates(), ", "))
	f.StringArrayVar(&sets, "set", nil, "override one spec key, key=value (env.NAME=value; lists comma-separated or TOML arrays; repeatable)")
	addAPIFlag(submit)

	status := &cobra.Command{
		Use:   "status JOB",
		Short: "Show a job's status and record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			j, err := apiClient(cmd).Job(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job:    %s\nstatus: %s\nleaves: %v\nrecord: %s\n", j.Job, j.Status, j.Leaves, j.Record)
			return nil
		},
	}
	addAPIFlag(status)

	var limit, offset int
	list := &cobra.Command{
		Use:   "list",
		Short: "List jobs (operator token from the home)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			jobs, err := apiClient(cmd).Jobs(cmd.Context(), offset, limit)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tSTATUS\tLEAVES")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%s\t%s\t%v\n", j.Job, j.Status, j.Leaves)
			}
			return tw.Flush()
		},
	}
	list.Flags().IntVar(&limit, "limit", 100, "at most this many jobs")
	list.Flags().IntVar(&offset, "offset", 0, "skip this many jobs")
	addAPIFlag(list)
	order.AddCommand(submit, status, list, newCancelCmd(), newWatchCmd(), newLogsCmd())
	return order
}

// readSpecFile reads a spec file (or stdin for "-"), bounded.
func readSpecFile(cmd *cobra.Command, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, client.MaxSpecFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > client.MaxSpecFile {
		return nil, fmt.Errorf("%s: over %d bytes", name, client.MaxSpecFile)
	}
	return data, nil
}

func newCancelCmd() *cobra.Command {
	var keyFile, reason string
	cmd := &cobra.Command{
		Use:   "cancel JOB",
		Short: "Cancel a job: sign a Cancel with the order's client key and post it",
		Long: `Cancel signs a Cancel record of the job's order with the client key that signed
the order and posts it to the node that took the order. That node terminates the
lease (or relays the Cancel to the treaty peer that runs the job) and logs the
Cancel. Canceling a canceled job changes nothing; a job that ended cannot be
canceled.`,
		Example: `  aurora order cancel --key client.key bafyrei...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if keyFile == "" {
				return fmt.Errorf("--key is required: the client key that signed the order")
			}
			k, err := node.LoadKey(keyFile)
			if err != nil {
				return err
			}
			rec, err := client.BuildCancel(k, a[0], reason, time.Now())
			if err != nil {
				return err
			}
			resp, err := apiClient(cmd).Cancel(cmd.Context(), rec)
			if err != nil {
				return err
			}
			note := ""
			if resp.Already {
				note = " (already canceled: nothing changed)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job:    %s\nstatus: %s%s\ncancel: %s\nleaves: %v\n", resp.Job, resp.Status, note, resp.Cancel, resp.Leaves)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the client key that signed the order")
	cmd.Flags().StringVar(&reason, "reason", "", "why (logged with the Cancel)")
	addAPIFlag(cmd)
	return cmd
}

func newWatchCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "watch JOB",
		Short: "Follow a job's events (transitions, endpoints, errors) until it ends here",
		Long: `Watch follows GET /v1/jobs/{id}/events, reconnecting with Last-Event-ID when
the stream breaks, and prints one line per event until the job's status is
terminal on this node (succeeded, failed, terminated, canceled, or forwarded to
a treaty peer). Exit status 4 when the job failed.`,
		Example: `  aurora order watch bafyrei...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			out := cmd.OutOrStdout()
			failed := false
			err := apiClient(cmd).Watch(cmd.Context(), a[0], 5, func(ev client.Event) error {
				if ev.Data.Status == treaty.StatusFailed {
					failed = true
				}
				if asJSON {
					return json.NewEncoder(out).Encode(ev)
				}
				at := ""
				if ev.Data.At > 0 {
					at = time.Unix(ev.Data.At, 0).UTC().Format(time.RFC3339)
				}
				switch ev.Kind {
				case wire.EventEndpoints:
					for _, e := range ev.Data.Endpoints {
						where := e.URL
						if where == "" {
							where = fmt.Sprintf("%s:%d", e.Host, e.Port)
						}
						fmt.Fprintf(out, "endpoint  %s %s\n", e.Kind, where)
					}
				default:
					fmt.Fprintf(out, "%-9s %s %s %s\n", ev.Kind, at, ev.Data.Status, ev.Data.Detail)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if failed {
				return &exitError{code: 4, err: fmt.Errorf("job failed")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each event as a JSON line")
	addAPIFlag(cmd)
	return cmd
}

func newLogsCmd() *cobra.Command {
	var (
		keyFile string
		tail    int
	)
	cmd := &cobra.Command{
		Use:   "logs JOB",
		Short: "Print the last lines of a job's container log, read from its network now",
		Long: `Logs reads GET /v1/jobs/{id}/logs: the node asks the job's network for its
container log (Vast.ai today; other networks answer 501 with the reason).
With --key the request is signed with the order's client key; without it
the home's operator token is used.`,
		Example: `  aurora order logs --key client.key --tail 200 bafyrei...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var k *treaty.PrivateKey
			if keyFile != "" {
				var err error
				if k, err = node.LoadKey(keyFile); err != nil {
					return err
				}
			}
			res, err := apiClient(cmd).Logs(cmd.Context(), k, a[0], tail)
			if err != nil {
				return err
			}
			if res.Truncated {
				fmt.Fprintln(cmd.ErrOrStderr(), "aurora: the log is longer than the node returns; showing its end")
			}
			_, err = cmd.OutOrStdout().Write(res.Text)
			return err
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the client key that signed the order (default: the home's operator token)")
	cmd.Flags().IntVar(&tail, "tail", 100, "lines from the end (1 to 10000)")
	addAPIFlag(cmd)
	return cmd
}
