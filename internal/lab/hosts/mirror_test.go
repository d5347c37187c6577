package hosts

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMirror(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    string
		wantErr bool
	}{
		{
			name: "deb822 with updates and security stanzas",
			files: map[string]string{"sources.list.d/debian.sources": `Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
`},
			want: "http://mirror.example/debian",
		},
		{
			name: "security stanza first is skipped",
			files: map[string]string{"sources.list.d/a.sources": `Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security

Types: deb-src deb
URIs: https://mirror.example/debian/
Suites: bookworm
`},
			want: "https://mirror.example/debian/",
		},
		{
			name: "disabled stanza is skipped",
			files: map[string]string{"sources.list.d/a.sources": `Enabled: no
Types: deb
URIs: http://old.example/debian
Suites: bookworm

Types: deb
URIs: http://new.example/debian
Suites: bookworm
`},
			want: "http://new.example/debian",
		},
		{
			name: "one-line sources.list with options",
			files: map[string]string{"sources.list": `# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main contrib
`},
			want: "http://mirror.example/debian",
		},
		{
			name:    "no source for the suite",
			files:   map[string]string{"sources.list": "deb http://archive.example/ubuntu noble main\n"},
			wantErr: true,
		},
	}
	t.Setenv(MirrorEnv, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Mirror(dir, "bookworm")
			if (err != nil) != tt.wantErr {
				t.Fatalf("Mirror() error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Mirror() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMirrorEnvOverrides(t *testing.T) {
	t.Setenv(MirrorEnv, "http://override.example/debian")
	got, err := Mirror(t.TempDir(), "bookworm")
	if err != nil || got != "http://override.example/debian" {
		t.Errorf("Mirror() = %q, %v", got, err)
	}
}

func TestImageRefsAreKeyedByContent(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Stacks {
		ref := ImageRef(s)
		if seen[ref] {
			t.Errorf("%s: duplicate image ref %s", s, ref)
		}
		seen[ref] = true
		if ref != ImageRef(s) {
			t.Errorf("%s: ref not stable", s)
		}
	}
	before := ImageRef(Netplan)
	packages = append(packages, "extra-package")
	defer func() { packages = packages[:len(packages)-1] }()
	if ImageRef(Netplan) == before {
		t.Error("changing the package list kept the image ref")
	}
}

func TestNetworkConfigNamesTheAddress(t *testing.T) {
	for _, s := range Stacks {
		files, err := networkConfig(s, mustAddr("10.213.5.101"), 24, mustAddr("10.213.5.1"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || !contains(files[0].data, "10.213.5.101/24") || !contains(files[0].data, "10.213.5.1") {
			t.Errorf("%s: %+v", s, files)
		}
	}
	if _, err := networkConfig("bogus", mustAddr("10.0.0.1"), 24, mustAddr("10.0.0.254")); err == nil {
		t.Error("unknown stack accepted")
	}
}

func TestMachineIDIsFreshAndWellFormed(t *testing.T) {
	a, err := newMachineID()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newMachineID()
	if a == b || len(a) != 32 {
		t.Errorf("machine-ids %q %q", a, b)
	}
	for _, c := range a {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			t.Errorf("machine-id %q is not lowercase hex", a)
		}
	}
}
