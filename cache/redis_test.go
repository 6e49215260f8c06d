package cache_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/cache"
)

// These tests only parse URLs and build clients: go-redis connects lazily,
// so no Redis, Sentinel or Cluster is needed.

func TestParseRedisURLSingle(t *testing.T) {
	cfg, err := cache.ParseRedisURL("redis://:secret@127.0.0.1:56379/3?pool_size=7")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != cache.RedisSingle || cfg.Single == nil || cfg.Universal != nil {
		t.Fatalf("mode %q single %v universal %v, want single options only", cfg.Mode, cfg.Single, cfg.Universal)
	}
	o := cfg.Single
	if o.Addr != "127.0.0.1:56379" || o.DB != 3 || o.Password != "secret" || o.PoolSize != 7 {
		t.Errorf("addr %q db %d password %q pool %d", o.Addr, o.DB, o.Password, o.PoolSize)
	}
	// The cache's defaults.
	if !o.ContextTimeoutEnabled || o.DialTimeout != time.Second || o.ReadTimeout != 500*time.Millisecond ||
		o.WriteTimeout != 500*time.Millisecond || o.PoolTimeout != time.Second || o.MaxRetries != 1 {
		t.Errorf("timeouts: ctx %v dial %v read %v write %v pool %v retries %d",
			o.ContextTimeoutEnabled, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.MaxRetries)
	}
}

func TestParseRedisURLTimeoutsFromURLWin(t *testing.T) {
	cfg, err := cache.ParseRedisURL("redis://a:6379,b:6379?read_timeout=2s&dial_timeout=3s&max_retries=4")
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.Universal
	if u.ReadTimeout != 2*time.Second || u.DialTimeout != 3*time.Second || u.MaxRetries != 4 {
		t.Errorf("read %v dial %v retries %d, want the URL's", u.ReadTimeout, u.DialTimeout, u.MaxRetries)
	}
	if u.WriteTimeout != 500*time.Millisecond || !u.ContextTimeoutEnabled {
		t.Errorf("write %v ctx %v, want the cache's defaults for what the URL left out", u.WriteTimeout, u.ContextTimeoutEnabled)
	}
}

func TestParseRedisURLCluster(t *testing.T) {
	cfg, err := cache.ParseRedisURL("redis://user:pw@10.0.0.1:7000,10.0.0.2:7001, 10.0.0.3?pool_size=5")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != cache.RedisCluster || cfg.Universal == nil {
		t.Fatalf("mode %q, want cluster", cfg.Mode)
	}
	u := cfg.Universal
	want := []string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:6379"}
	if !slices.Equal(u.Addrs, want) {
		t.Errorf("addrs %v, want %v", u.Addrs, want)
	}
	if u.Username != "user" || u.Password != "pw" || u.PoolSize != 5 || u.MasterName != "" {
		t.Errorf("user %q password %q pool %d master %q", u.Username, u.Password, u.PoolSize, u.MasterName)
	}
	if u.ReadTimeout != 500*time.Millisecond || !u.ContextTimeoutEnabled || u.MaxRetries != 1 {
		t.Errorf("read %v ctx %v retries %d, want the cache's defaults", u.ReadTimeout, u.ContextTimeoutEnabled, u.MaxRetries)
	}

	one, err := cache.ParseRedisURL("redis://10.0.0.1:7000?cluster=true")
	if err != nil {
		t.Fatal(err)
	}
	if one.Mode != cache.RedisCluster || !slices.Equal(one.Universal.Addrs, []string{"10.0.0.1:7000"}) {
		t.Errorf("cluster=true: mode %q addrs %v", one.Mode, one.Universal.Addrs)
	}
}

func TestParseRedisURLSentinel(t *testing.T) {
	cfg, err := cache.ParseRedisURL("redis://:masterpw@s1:26379,s2,s3:26380/2?master_name=mymaster&sentinel_password=sentpw&read_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != cache.RedisSentinel {
		t.Fatalf("mode %q, want sentinel", cfg.Mode)
	}
	u := cfg.Universal
	if want := []string{"s1:26379", "s2:26379", "s3:26380"}; !slices.Equal(u.Addrs, want) {
		t.Errorf("addrs %v, want %v", u.Addrs, want)
	}
	if u.MasterName != "mymaster" || u.Password != "masterpw" || u.SentinelPassword != "sentpw" || u.DB != 2 || u.ReadTimeout != time.Second {
		t.Errorf("master %q password %q sentinel password %q db %d read %v",
			u.MasterName, u.Password, u.SentinelPassword, u.DB, u.ReadTimeout)
	}
	// One sentinel is enough with master_name.
	one, err := cache.ParseRedisURL("redis://s1:26379?master_name=m")
	if err != nil || one.Mode != cache.RedisSentinel {
		t.Errorf("one sentinel: %v %v", one.Mode, err)
	}
}

func TestParseRedisURLErrors(t *testing.T) {
	for _, url := range []string{
		"",
		"localhost:6379",
		"http://localhost:6379",
		"redis://",
		"redis://a:6379,b:6379/1",            // Cluster has only db 0
		"redis://a:6379?cluster=maybe",       // not a boolean
		"redis://a:6379?sentinel_password=x", // without master_name
		"redis://a:6379?master_name=m&cluster=true",       // both
		"redis://a:6379,b:6379?no_such_option=1",          // go-redis refuses unknown options
		"redis://:topsecret@a:6379?read_timeout=forever",  // bad duration
		"redis://a:6379,b:6379?master_name=m&pool_size=x", // bad number
	} {
		_, err := cache.ParseRedisURL(url)
		if err == nil {
			t.Errorf("%q: no error", url)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%q: the error shows the password: %v", url, err)
		}
	}
}

func TestNewRedisClientTypes(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"redis://127.0.0.1:56379/0", "single"},
		{"unix:///run/redis.sock?db=1", "single"},
		{"redis://127.0.0.1:7000,127.0.0.1:7001", "cluster"},
		{"redis://127.0.0.1:7000?cluster=1", "cluster"},
		{"redis://127.0.0.1:26379,127.0.0.1:26380?master_name=mymaster", "sentinel"},
	} {
		rdb, err := cache.NewRedis(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		got := "?"
		switch c := rdb.(type) {
		case *redis.ClusterClient:
			got = "cluster"
		case *redis.Client:
			// A FailoverClient is a *redis.Client whose address is a
			// placeholder: the sentinels supply the master's.
			got = "single"
			if c.Options().Addr == "FailoverClient" {
				got = "sentinel"
			}
		}
		if got != tc.want {
			t.Errorf("%s: built a %T (%s), want %s", tc.url, rdb, got, tc.want)
		}
		_ = rdb.Close()
	}
}

func TestValidatePrefix(t *testing.T) {
	single, _ := cache.NewRedis("redis://127.0.0.1:6379")
	cluster, _ := cache.NewRedis("redis://127.0.0.1:7000,127.0.0.1:7001")
	defer single.Close()
	defer cluster.Close()
	if err := cache.ValidatePrefix(single, "orgpulse:"); err != nil {
		t.Errorf("single server: %v", err)
	}
	for _, p := range []string{"{orgpulse}:", "app:{orgpulse}:", "{x}"} {
		if err := cache.ValidatePrefix(cluster, p); err != nil {
			t.Errorf("cluster, %q: %v", p, err)
		}
	}
	for _, p := range []string{"orgpulse:", "{}orgpulse:", "orgpulse{:", ""} {
		if err := cache.ValidatePrefix(cluster, p); err == nil {
			t.Errorf("cluster, %q: accepted without a hash tag", p)
		}
	}
}
