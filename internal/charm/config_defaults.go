package charm

// configDefaults are config.yaml's defaults, typed as config-get returns them (int options as
// int64). `config-get --all` sends every option, so they matter only where an option is absent
// (an older agent, a test's partial map): it then reads as its default, never as a zero value that
// would pass for a choice. TestConfigDefaultsMatchConfigYAML keeps this table and config.yaml in step.
var configDefaults = map[string]any{
	"mode":                         "auto",
	"version":                      "7.14.3",
	"download-url":                 "https://github.com/concourse/concourse/releases/download/v{version}/concourse-{version}-linux-{arch}.tgz",
	"checksum":                     "",
	"shared-storage-path":          "",
	"shared-storage-require-mount": true,
	"log-level":                    "info",
	"worker-tags":                  "",
	"runtime":                      "containerd",
	"external-url":                 "",
	"web-port":                     int64(8080),
	"tsa-port":                     int64(2222),
	"admin-username":               "admin",
	"worker-team":                  "",
	"baggageclaim-driver":          "detect",
	"dns-servers":                  "",
	"max-containers":               int64(0),
	"drain-timeout":                "5m",
	"enable-metrics":               false,
	"metrics-port":                 int64(9391),
	"extra-env":                    "",
}
