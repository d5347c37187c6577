package command

import (
	"context"
	"net"
	"testing"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The provider over a real gRPC connection, as the engine talks to it.
func TestOverGRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pulumirpc.RegisterResourceProviderServer(srv, New(nil))
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := pulumirpc.NewResourceProviderClient(conn)
	ctx := context.Background()

	info, err := c.GetPluginInfo(ctx, &emptypb.Empty{})
	if err != nil || info.Version != Version {
		t.Fatalf("GetPluginInfo: %v %v", info, err)
	}
	olds := props(t, map[string]any{"connection": conn0(), "create": "a", "triggers": []any{"x"}})
	news := props(t, map[string]any{"connection": conn0(), "create": "a", "triggers": []any{"y"}})
	d, err := c.Diff(ctx, &pulumirpc.DiffRequest{Urn: cmdURN, OldInputs: olds, Olds: olds, News: news})
	if err != nil {
		t.Fatal(err)
	}
	if d.Changes != pulumirpc.DiffResponse_DIFF_SOME || d.DetailedDiff["triggers[0]"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("diff over gRPC: %v", d)
	}
	if _, err := c.Check(ctx, &pulumirpc.CheckRequest{Urn: "urn:pulumi:s::p::command:local:Command::x", News: news}); err == nil {
		t.Error("command:local:Command is not served by this double; Check should fail")
	}
}

func conn0() map[string]any { return conn("10.0.0.1", 22) }
