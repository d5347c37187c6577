package command

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
	"github.com/homeslice/homelab/internal/lab/sshdtest"
)

// These tests run the double against a real OpenSSH sshd (package sshdtest).

func sshConn(s *sshdtest.Server) map[string]any {
	return map[string]any{
		"host": s.Host, "port": float64(s.Port), "user": s.User, "privateKey": s.ClientKey,
		"dialErrorLimit": 10.0, "perDialTimeout": 15.0,
	}
}

func create(t *testing.T, p *Provider, in map[string]any) (resource.PropertyMap, error) {
	t.Helper()
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: cmdURN, Properties: props(t, in)})
	if err != nil {
		return nil, err
	}
	out, err := pb.Unmarshal(resp.Properties)
	if err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func mustCreate(t *testing.T, p *Provider, in map[string]any) resource.PropertyMap {
	t.Helper()
	out, err := create(t, p, in)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return out
}

func update(t *testing.T, p *Provider, olds resource.PropertyMap, news map[string]any) (resource.PropertyMap, error) {
	t.Helper()
	os, err := pb.Marshal(olds)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: cmdURN, Olds: os, News: props(t, news)})
	if err != nil {
		return nil, err
	}
	out, _ := pb.Unmarshal(resp.Properties)
	return out, nil
}

func TestLifecycleOnRealSSHD(t *testing.T) {
	s := sshdtest.Start(t)
	rec := &recorder{}
	p := New(rec)
	dir := s.Dir
	in := map[string]any{
		"connection": sshConn(s),
		"create":     "cat > " + dir + "/created; echo created-out; echo created-err >&2",
		"delete":     "echo \"$PULUMI_COMMAND_STDOUT\" > " + dir + "/deleted",
		"stdin":      "from-stdin",
	}
	out := mustCreate(t, p, in)
	if got := s.ReadFile("created"); got != "from-stdin" {
		t.Errorf("stdin on host = %q", got)
	}
	if out["stdout"].StringValue() != "created-out" || out["stderr"].StringValue() != "created-err" {
		t.Errorf("outputs = %v", out)
	}
	if !out["connection"].IsSecret() {
		t.Error("connection output not secret")
	}
	if !strings.Contains(rec.all(), "created-out") || !strings.Contains(rec.all(), "created-err") {
		t.Errorf("default logging should send both streams to the engine: %q", rec.all())
	}

	// no update script: create runs again with the new inputs and sees the previous stdout
	news := map[string]any{
		"connection": sshConn(s),
		"create":     "echo \"$PULUMI_COMMAND_STDOUT\" > " + dir + "/prev; cat > " + dir + "/created; echo second",
		"delete":     in["delete"],
		"stdin":      "changed-stdin",
	}
	out2, err := update(t, p, out, news)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if got := s.ReadFile("created"); got != "changed-stdin" {
		t.Errorf("update ran with stdin %q", got)
	}
	if got := strings.TrimSpace(s.ReadFile("prev")); got != "created-out" {
		t.Errorf("PULUMI_COMMAND_STDOUT on update = %q", got)
	}
	if out2["stdout"].StringValue() != "second" {
		t.Errorf("stdout after update = %v", out2["stdout"])
	}

	// an update script wins over create
	news["update"] = "echo updated > " + dir + "/updated"
	if _, err := update(t, p, out2, news); err != nil {
		t.Fatalf("update: %v", err)
	}
	if s.ReadFile("updated") != "updated\n" {
		t.Error("update script did not run")
	}

	// delete runs with the state it is given (the old inputs and outputs)
	st, _ := pb.Marshal(out2)
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: cmdURN, Properties: st}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := strings.TrimSpace(s.ReadFile("deleted")); got != "second" {
		t.Errorf("delete saw PULUMI_COMMAND_STDOUT %q", got)
	}
}

func TestUpdateRunsOnNewConnectionOnly(t *testing.T) {
	a, b := sshdtest.Start(t), sshdtest.Start(t)
	p := New(nil)
	script := "hostname > /dev/null; echo ran >> " + b.Dir + "/ran"
	out := mustCreate(t, p, map[string]any{"connection": sshConn(a), "create": "true"})
	before := a.Logins()
	if _, err := update(t, p, out, map[string]any{"connection": sshConn(b), "create": script}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if b.ReadFile("ran") != "ran\n" {
		t.Error("create did not run on the new host")
	}
	if a.Logins() != before {
		t.Error("update dialed the old host")
	}
}

func TestHostKey(t *testing.T) {
	s := sshdtest.Start(t)
	p := New(nil)
	for name, key := range map[string]string{"ed25519": s.HostKeyEd25519, "ecdsa": s.HostKeyECDSA} {
		// the server has both keys; pinning the one it would not choose
		// by default only works because only the pinned key's algorithm is offered
		c := sshConn(s)
		c["hostKey"] = key
		if _, err := create(t, p, map[string]any{"connection": c, "create": "true"}); err != nil {
			t.Errorf("%s pin: %v", name, err)
		}
	}
	c := sshConn(s)
	c["hostKey"] = sshdtest.Pubkey(t)
	c["dialErrorLimit"] = 1.0
	_, err := create(t, p, map[string]any{"connection": c, "create": "touch " + s.Dir + "/x"})
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("wrong pin: err = %v, want a host key mismatch", err)
	}
	if _, statErr := os.Stat(filepath.Join(s.Dir, "x")); statErr == nil {
		t.Error("command ran despite the wrong host key")
	}
}

func TestFailingCommandCarriesOutputWhateverLogging(t *testing.T) {
	s := sshdtest.Start(t)
	rec := &recorder{}
	_, err := create(t, New(rec), map[string]any{
		"connection": sshConn(s), "logging": "none",
		"create": "echo the-stdout; echo the-stderr >&2; exit 3",
	})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"Process exited with status 3", `running "echo the-stdout;`, "the-stdout", "the-stderr"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if rec.all() != "" {
		t.Errorf("logging none sent %q to the engine", rec.all())
	}
}

func TestLoggingModes(t *testing.T) {
	s := sshdtest.Start(t)
	for mode, want := range map[string][2]bool{
		"stdout": {true, false}, "stderr": {false, true}, "stdoutAndStderr": {true, true}, "none": {false, false},
	} {
		rec := &recorder{}
		mustCreate(t, New(rec), map[string]any{"connection": sshConn(s), "logging": mode, "create": "echo OUT; echo ERR >&2"})
		got := [2]bool{strings.Contains(rec.all(), "OUT"), strings.Contains(rec.all(), "ERR")}
		if got != want {
			t.Errorf("logging %s: logged stdout/stderr = %v, want %v (%q)", mode, got, want, rec.all())
		}
	}
}

func TestEnvironment(t *testing.T) {
	s := sshdtest.Start(t)
	out := mustCreate(t, New(nil), map[string]any{"connection": sshConn(s), "environment": map[string]any{"LAB_X": "y"}, "create": "echo $LAB_X"})
	if out["stdout"].StringValue() != "y" {
		t.Errorf("environment: stdout %v", out["stdout"])
	}
	// sshd refuses names outside AcceptEnv: the real provider fails
	_, err := create(t, New(nil), map[string]any{"connection": sshConn(s), "environment": map[string]any{"OTHER": "y"}, "create": "true"})
	if err == nil || !strings.Contains(err.Error(), `could not set environment variable "OTHER"`) {
		t.Errorf("refused env: %v", err)
	}
}

func TestDialRetries(t *testing.T) {
	rec := &recorder{}
	c := conn("127.0.0.1", 1)
	c["dialErrorLimit"] = 2.0
	start := time.Now()
	_, err := create(t, New(rec), map[string]any{"connection": c, "create": "true"})
	if err == nil || !strings.Contains(err.Error(), "after 2 failed attempts") {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"Dial 1/2 failed: retrying", "Dial 2/2 failed: retrying"} {
		if !strings.Contains(rec.all(), want) {
			t.Errorf("log lacks %q: %q", want, rec.all())
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("3 dials took %v", d)
	}
}

func TestCopyToRemote(t *testing.T) {
	s := sshdtest.Start(t)
	p := New(nil)
	const urn = "urn:pulumi:test::lab::command:remote:CopyToRemote::cp"
	text, err := resource.NewTextAsset("hello\n")
	if err != nil {
		t.Fatal(err)
	}
	in := resource.PropertyMap{
		"connection": resource.MakeSecret(resource.NewObjectProperty(resource.NewPropertyMapFromMap(sshConn(s)))),
		"remotePath": resource.NewStringProperty(s.Dir + "/sub/file.txt"),
		"source":     resource.NewAssetProperty(text),
	}
	st, _ := pb.Marshal(in)
	chk, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, News: st})
	if err != nil || len(chk.Failures) > 0 {
		t.Fatalf("check: %v %v", err, chk.GetFailures())
	}
	if _, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Properties: st}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if got := s.ReadFile("sub/file.txt"); got != "hello\n" {
		t.Errorf("remote file = %q", got)
	}
}
