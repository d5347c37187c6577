package command

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

const (
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
	defaultPort           = 22
	defaultUser           = "root"
)

// connection is command:remote:Connection (and, for proxy, command:remote:ProxyConnection).
type connection struct {
	Host               string
	Port               float64
	User               string
	Password           *string
	PrivateKey         *string
	PrivateKeyPassword *string
	AgentSocketPath    *string
	HostKey            *string
	DialErrorLimit     int
	PerDialTimeout     int
	Proxy              *connection
}

func parseConnection(m resource.PropertyMap) (*connection, error) {
	if m == nil {
		return nil, errors.New("connection is missing")
	}
	host := pb.String(m, "host")
	if host == nil {
		return nil, errors.New("connection.host is missing")
	}
	c := &connection{
		Host:               *host,
		Port:               defaultPort,
		User:               defaultUser,
		Password:           pb.String(m, "password"),
		PrivateKey:         pb.String(m, "privateKey"),
		PrivateKeyPassword: pb.String(m, "privateKeyPassword"),
		AgentSocketPath:    pb.String(m, "agentSocketPath"),
		HostKey:            pb.String(m, "hostKey"),
		DialErrorLimit:     defaultDialErrorLimit,
		PerDialTimeout:     defaultPerDialTimeout,
	}
	if p := pb.Number(m, "port"); p != nil {
		c.Port = *p
	}
	if u := pb.String(m, "user"); u != nil {
		c.User = *u
	}
	if n := pb.Number(m, "dialErrorLimit"); n != nil {
		c.DialErrorLimit = int(*n)
	}
	if n := pb.Number(m, "perDialTimeout"); n != nil {
		c.PerDialTimeout = int(*n)
	}
	if p := pb.Object(m, "proxy"); p != nil {
		proxy, err := parseConnection(p)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		c.Proxy = proxy
	}
	return c, nil
}

func (c *connection) endpoint() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
}

// clientConfig mirrors the real provider: key first, then password (and
// keyboard-interactive with it), then the agent; a pinned host key restricts the
// offered host key algorithms to that key's own.
func (c *connection) clientConfig() (*ssh.ClientConfig, error) {
	cfg := &ssh.ClientConfig{
		User:            c.User,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         time.Duration(c.PerDialTimeout) * time.Second,
	}
	if c.HostKey != nil {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.HostKey))
		if err != nil {
			return nil, fmt.Errorf("parsing host key: %w", err)
		}
		cfg.HostKeyCallback = ssh.FixedHostKey(key)
		cfg.HostKeyAlgorithms = []string{key.Type()}
	}
	if c.PrivateKey != nil {
		var signer ssh.Signer
		var err error
		if c.PrivateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.PrivateKey), []byte(*c.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.PrivateKey))
		}
		if err != nil {
			return nil, err
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != nil {
		pw := *c.Password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw), ssh.KeyboardInteractive(
			func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	sock := c.AgentSocketPath
	if env := os.Getenv("SSH_AUTH_SOCK"); sock == nil && env != "" {
		sock = &env
	}
	if sock != nil {
		conn, err := net.Dial("unix", *sock)
		if err != nil {
			return nil, err
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return cfg, nil
}

// withRetry calls dial until it succeeds or has failed more than limit times
// (-1: no limit), with the engine SDK's default backoff, reporting each retry as a
// status line: the real provider's dial loop.
func withRetry[T any](ctx context.Context, log func(string), what string, limit int, dial func() (T, error)) (T, error) {
	var last error
	ok, data, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			v, err := dial()
			if err == nil {
				return true, v, nil
			}
			last = err
			dials := try + 1
			if limit > -1 && dials > limit {
				return true, nil, fmt.Errorf("after %d failed attempts: %w", try, err)
			}
			max := "inf"
			if limit != -1 {
				max = strconv.Itoa(limit)
			}
			log(fmt.Sprintf("%s %d/%s failed: retrying", what, dials, max))
			return false, nil, nil
		},
	})
	var zero T
	if ok && err == nil {
		return data.(T), nil
	}
	if err == nil {
		err = ctx.Err()
		if err == nil {
			err = last
		}
	}
	return zero, err
}

// dial opens an SSH client, through the proxy when one is set.
func (c *connection) dial(ctx context.Context, logger pb.Logger, urn resource.URN) (*ssh.Client, error) {
	log := func(msg string) { logger.Log(ctx, diag.Info, urn, msg, true) }
	cfg, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	if c.Proxy == nil {
		return withRetry(ctx, log, "Dial", c.DialErrorLimit, func() (*ssh.Client, error) {
			return ssh.Dial("tcp", c.endpoint(), cfg)
		})
	}
	pcfg, err := c.Proxy.clientConfig()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	proxy, err := withRetry(ctx, log, "Dial proxy", c.Proxy.DialErrorLimit, func() (*ssh.Client, error) {
		return ssh.Dial("tcp", c.Proxy.endpoint(), pcfg)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	conn, err := withRetry(ctx, log, "Dial from proxy", c.DialErrorLimit, func() (net.Conn, error) {
		return proxy.Dial("tcp", c.endpoint())
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, c.endpoint(), cfg)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return ssh.NewClient(sc, chans, reqs), nil
}
