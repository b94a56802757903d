package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
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
	)
	submit := &cobra.Command{
		Use:   "submit",
		Short: "Sign an order with a client key and submit it",
		Example: `  aurora order submit --key client.key --image ghcr.io/acme/infer:1 --gpu A100:1 \
    --region eu-west --max-price 2.50/h --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" || image == "" || maxPrice == "" {
				return fmt.Errorf("--key, --image and --max-price are required")
			}
			k, err := node.LoadKey(keyFile)
			if err != nil {
				return err
			}
			envs := map[string]string{}
			for _, e := range env {
				name, v, ok := strings.Cut(e, "=")
				if !ok {
					return fmt.Errorf("--env %q: want NAME=VALUE", e)
				}
				envs[name] = v
			}
			o, err := client.BuildOrder(k, client.OrderSpec{Image: image, Cmd: args, Env: envs, GPU: gpu, MinVRAM: vram, CPU: cpu, Memory: mem, Disk: disk,
				Duration: duration, Regions: regions, MaxPrice: maxPrice, Providers: providers, Lifetime: lifetime}, time.Now())
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
	order.AddCommand(submit, status, list)
	return order
}
