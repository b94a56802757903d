package node

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// newTracerProvider returns the node's own tracer provider (never the
// global one: several nodes share a test process). Off unless
// tracing.enabled: then spans go to an OTLP/HTTP exporter configured by the
// standard OTEL_EXPORTER_OTLP_* variables. A remote parent's sampling
// decision is honoured (a trace spanning nodes stays whole).
func newTracerProvider(ctx context.Context, cfg Config, id Identity) (trace.TracerProvider, func(context.Context) error, error) {
	if !cfg.Tracing.Enabled {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("node: tracing exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("aurora"), attribute.String("aurora.did", string(id.DID)), attribute.String("aurora.peer", id.PeerID.String())))
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	return tp, tp.Shutdown, nil
}
