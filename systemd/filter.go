package systemd

import (
	"fmt"
	"path"
	"strings"

	"github.com/logspool/logspool/internal/configerr"
	"github.com/logspool/logspool/systemd/journalfile"
)

// coredumpMessageID is the MESSAGE_ID of systemd-coredump's messages.
const coredumpMessageID = "fc2e22bc6ee647b6b90729ab34a250b1"

// unitSuffixes are the unit types journalctl's name mangling recognises.
var unitSuffixes = []string{
	".service", ".socket", ".target", ".device", ".mount", ".automount",
	".swap", ".timer", ".path", ".slice", ".scope",
}

// mangleUnit turns a -u argument into the unit name journalctl matches: a
// name without a unit suffix gets ".service"; a glob is used as given.
func mangleUnit(name string) string {
	if isGlob(name) {
		return name
	}
	for _, s := range unitSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return name
		}
	}
	return name + ".service"
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// unitPattern is one mangled unit name or glob.
type unitPattern struct {
	name  string
	glob  bool
	slice bool
}

func (p *unitPattern) match(v []byte) bool {
	if p.glob {
		ok, _ := path.Match(p.name, string(v))
		return ok
	}
	return string(v) == p.name
}

func compileUnits(field string, names []string) ([]unitPattern, error) {
	out := make([]unitPattern, 0, len(names))
	for i, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, configerr.New(ErrInvalidConfig, fmt.Sprintf("%s[%d]", field, i), "is empty")
		}
		m := mangleUnit(n)
		if isGlob(m) {
			if _, err := path.Match(m, ""); err != nil {
				return nil, configerr.New(ErrInvalidConfig, fmt.Sprintf("%s[%d]", field, i), "%q is not a valid glob: %v", n, err)
			}
		}
		out = append(out, unitPattern{name: m, glob: isGlob(m), slice: strings.HasSuffix(m, ".slice")})
	}
	return out, nil
}

// unitFilter keeps the entries of some units and drops those of others,
// matching units the way `journalctl -u NAME` does (add_matches_for_unit):
//
//	_SYSTEMD_UNIT=NAME
//	or MESSAGE_ID=<coredump> and _UID=0 and COREDUMP_UNIT=NAME
//	or _PID=1 and UNIT=NAME
//	or _UID=0 and OBJECT_SYSTEMD_UNIT=NAME
//	or, for a NAME ending in .slice, _SYSTEMD_SLICE=NAME
type unitFilter struct {
	include []unitPattern
	exclude []unitPattern
}

func newUnitFilter(units, exclude []string) (*unitFilter, error) {
	inc, err := compileUnits("Units", units)
	if err != nil {
		return nil, err
	}
	exc, err := compileUnits("ExcludeUnits", exclude)
	if err != nil {
		return nil, err
	}
	if len(inc) == 0 && len(exc) == 0 {
		return nil, nil
	}
	return &unitFilter{include: inc, exclude: exc}, nil
}

// unitFields are the values of an entry that unit matching looks at.
type unitFields struct {
	systemdUnit, coredumpUnit, unit, objectUnit, slice [][]byte
	coredumpMsg, uid0, pid1                            bool
}

func (u *unitFields) collect(fields []journalfile.Field) {
	*u = unitFields{systemdUnit: u.systemdUnit[:0], coredumpUnit: u.coredumpUnit[:0],
		unit: u.unit[:0], objectUnit: u.objectUnit[:0], slice: u.slice[:0]}
	for i := range fields {
		f := &fields[i]
		switch f.Name {
		case "_SYSTEMD_UNIT":
			u.systemdUnit = append(u.systemdUnit, f.Value)
		case "COREDUMP_UNIT":
			u.coredumpUnit = append(u.coredumpUnit, f.Value)
		case "UNIT":
			u.unit = append(u.unit, f.Value)
		case "OBJECT_SYSTEMD_UNIT":
			u.objectUnit = append(u.objectUnit, f.Value)
		case "_SYSTEMD_SLICE":
			u.slice = append(u.slice, f.Value)
		case "MESSAGE_ID":
			if string(f.Value) == coredumpMessageID {
				u.coredumpMsg = true
			}
		case "_UID":
			if string(f.Value) == "0" {
				u.uid0 = true
			}
		case "_PID":
			if string(f.Value) == "1" {
				u.pid1 = true
			}
		}
	}
}

func anyMatch(p *unitPattern, vals [][]byte) bool {
	for _, v := range vals {
		if p.match(v) {
			return true
		}
	}
	return false
}

func (u *unitFields) matches(p *unitPattern) bool {
	return anyMatch(p, u.systemdUnit) ||
		u.coredumpMsg && u.uid0 && anyMatch(p, u.coredumpUnit) ||
		u.pid1 && anyMatch(p, u.unit) ||
		u.uid0 && anyMatch(p, u.objectUnit) ||
		p.slice && anyMatch(p, u.slice)
}

// keep reports whether the entry with fields passes the filter. scratch is
// reused between calls.
func (f *unitFilter) keep(fields []journalfile.Field, scratch *unitFields) bool {
	if f == nil {
		return true
	}
	scratch.collect(fields)
	if len(f.include) > 0 {
		ok := false
		for i := range f.include {
			if scratch.matches(&f.include[i]) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range f.exclude {
		if scratch.matches(&f.exclude[i]) {
			return false
		}
	}
	return true
}
