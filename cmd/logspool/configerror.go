package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/internal/configerr"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/shipper"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/systemd"
	"github.com/logspool/logspool/tailer"
)

// configError is the one shape of a configuration mistake the agent reports,
// whichever way the setting came (flag, environment, config file) and
// whoever found it (the flag parser, the config file reader, a shape check,
// a package's Config.Validate):
//
//	<setting as typed>[ "<value>"]: <what is wrong>[ (e.g. <example>)]
//
// The setting is named as the user gave it: --flag, LOGSPOOL_FLAG, or
// "config file F, line N: key" (see settingName); the example is in the
// same form.
type configError struct {
	where    string // "--es-url", "LOGSPOOL_ES_URL", "config file F, line N: es-url"
	value    string
	hasValue bool
	why      string // "want a size ..." or "negative (-1)"
	example  string // "" for none
}

func (e *configError) Error() string {
	var b strings.Builder
	b.WriteString(e.where)
	if e.hasValue {
		fmt.Fprintf(&b, " %q", e.value)
	}
	b.WriteString(": ")
	b.WriteString(e.why)
	if e.example != "" {
		fmt.Fprintf(&b, " (e.g. %s)", e.example)
	}
	return b.String()
}

// badSetting says that the setting at where (named name) has the value v,
// which does not have shape sh.
func badSetting(where, name, v string, sh shape) error {
	return &configError{where: where, value: v, hasValue: true, why: "want " + sh.want, example: exampleAt(where, name, sh.example)}
}

// exampleAt writes an example value of name the way where takes it.
func exampleAt(where, name, example string) string {
	switch {
	case strings.HasPrefix(where, "config file "):
		return name + ": " + example
	case strings.HasPrefix(where, "LOGSPOOL_"):
		return where + "=" + example
	}
	return "--" + name + " " + example
}

// fileKey names key at line of the config file path.
func fileKey(path string, line int, key string) string {
	return fmt.Sprintf("config file %s, line %d: %s", path, line, key)
}

// lineError is a mistake at a line of the config file that no key names
// (the file's layout).
func lineError(path string, line int, format string, args ...any) error {
	return &configError{where: fmt.Sprintf("config file %s, line %d", path, line), why: fmt.Sprintf(format, args...)}
}

// keyError is a mistake in key at a line of the config file; example is a
// valid "key: value" line, or "".
func keyError(path string, line int, key, why, example string) error {
	return &configError{where: fileKey(path, line, key), why: why, example: example}
}

// badValue says what was wrong with key's value in the config file and what
// would be right.
func badValue(path string, line int, key, got string, sh shape) error {
	return badSetting(fileKey(path, line, key), key, got, sh)
}

// settingName names a setting as the user gave it: the config file key with
// its line, the environment variable, or the flag.
func settingName(c *cli.Context, name string) string {
	if o, ok := origins(c)[name]; ok {
		return fileKey(o.file, o.line, name)
	}
	// The environment's value, unless a flag on the command line replaced it.
	if env := envName(name); os.Getenv(env) != "" && os.Getenv(env) == c.String(name) {
		return env
	}
	return "--" + name
}

// settingError says that name's value v is wrong and what would be right,
// naming the setting as the user gave it.
func settingError(c *cli.Context, name, v string, sh shape) error {
	return badSetting(settingName(c, name), name, v, sh)
}

// configFields maps each package's Config field names (by the package's
// ErrInvalidConfig) to the settings that fill them, so that a
// *configerr.Error from its Validate names what the user typed.
var configFields = map[error]map[string]string{
	shipper.ErrInvalidConfig: {
		"URLs": "es-url", "IndexMode": "es-index-mode", "Index": "es-index", "DeadLetterIndex": "es-dead-letter-index",
		"CertFile": "es-cert-file", "KeyFile": "es-key-file", "CAFile": "es-ca-file", "Username": "es-username",
		"BatchBytes": "es-batch-bytes", "FlushInterval": "es-flush-interval", "MaxInFlight": "es-max-in-flight",
		"ShutdownTimeout": "shutdown-timeout", "Compression": "es-compression",
	},
	tailer.ErrInvalidConfig: {
		"Globs": "containers-glob", "ReadFrom": "read-from", "MaxLineBytes": "max-line-bytes", "NodeName": "node-name",
		"MaxOpenFiles": "max-open-files", "CloseInactive": "close-inactive",
	},
	parser.ErrInvalidConfig: {
		"MaxLineBytes": "max-line-bytes", "NodeName": "node-name",
		"Labels.Include": "k8s-labels-include", "Labels.Exclude": "k8s-labels-exclude",
		"Annotations.Include": "k8s-annotations-include", "Annotations.Exclude": "k8s-annotations-exclude",
	},
	systemd.ErrInvalidConfig: {
		"Dirs": "journal-dir", "Units": "journal-unit", "ExcludeUnits": "journal-exclude-unit", "NodeName": "node-name",
	},
	spool.ErrInvalidConfig: {"Dir": "spool-dir", "MaxBytes": "spool-max-bytes"},
}

var fieldRE = regexp.MustCompile(`\b([A-Z][A-Za-z]+(?:\.[A-Z][A-Za-z]+)?)(\[(\d+)\])?`)

// validateError rewrites an error of a package's Config.Validate (a
// *configerr.Error) into a configError that names the flags (or config keys,
// or environment variables) instead of Go fields. Other errors are returned
// as they are.
func validateError(c *cli.Context, err error) error {
	var ce *configerr.Error
	if !errors.As(err, &ce) {
		return err
	}
	fields := configFields[ce.Kind]
	name := func(field string) string {
		return fieldRE.ReplaceAllStringFunc(field, func(m string) string {
			sub := fieldRE.FindStringSubmatch(m)
			switch {
			case ce.Kind == shipper.ErrInvalidConfig && sub[1] == "Password":
				return "the password (LOGSPOOL_ES_PASSWORD or " + settingName(c, "es-password-file") + ")"
			case ce.Kind == shipper.ErrInvalidConfig && sub[1] == "APIKey":
				return "the API key (LOGSPOOL_ES_API_KEY or " + settingName(c, "es-api-key-file") + ")"
			}
			if flag, ok := fields[sub[1]]; ok {
				return settingName(c, flag)
			}
			return m
		})
	}
	return &configError{where: name(ce.Field), why: name(ce.Reason)}
}
