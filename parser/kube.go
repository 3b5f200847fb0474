package parser

import (
	"path"
	"strconv"
	"strings"
)

// PathMeta is the Kubernetes and container metadata encoded in a log file's
// path. Empty fields (and a negative RestartCount) are unknown.
type PathMeta struct {
	Namespace     string
	PodName       string
	PodUID        string
	ContainerName string
	ContainerID   string
	// RestartCount is the container's restart count, -1 when unknown.
	RestartCount int
	// Runtime is "docker" when the path is docker's own json-file path, else "".
	Runtime string
}

// ParsePath extracts metadata from a container log file's path as discovered
// (p) and, when p is a symlink, its resolved target. It recognises
//
//	.../containers/<pod>_<namespace>_<container>-<64 hex id>.log   (kubelet's symlinks)
//	.../pods/<namespace>_<pod>_<uid>/<container>/<restart>.log[.<suffix>]
//	.../containers/<64 hex id>/<64 hex id>-json.log[.<n>]         (docker json-file)
//
// in either argument and merges what both say; fields p reveals win over
// those of resolved for names, resolved supplies what p lacks. Anything else
// yields no metadata. Namespaces and pod names cannot contain '_' (they are
// DNS names), which is what makes the underscore-separated forms unambiguous.
func ParsePath(p, resolved string) PathMeta {
	m := PathMeta{RestartCount: -1}
	parseOnePath(&m, p)
	if resolved != "" {
		parseOnePath(&m, resolved)
	}
	return m
}

func parseOnePath(m *PathMeta, p string) {
	p = path.Clean(strings.ReplaceAll(p, "\\", "/"))
	base := path.Base(p)
	dir := path.Dir(p)
	parent := path.Base(dir)

	// docker: .../containers/<id>/<id>-json.log[.N]
	if id, ok := strings.CutSuffix(trimRotation(base, "-json.log"), "-json.log"); ok && isHex64(id) && parent == id {
		setIf(&m.ContainerID, id)
		if m.Runtime == "" {
			m.Runtime = "docker"
		}
		return
	}

	// kubelet symlink: .../containers/<pod>_<namespace>_<container>-<id>.log
	if parent == "containers" {
		if stem, ok := strings.CutSuffix(base, ".log"); ok {
			pod, rest, ok1 := strings.Cut(stem, "_")
			ns, cid, ok2 := strings.Cut(rest, "_")
			if ok1 && ok2 && pod != "" && ns != "" && len(cid) > 65 && cid[len(cid)-65] == '-' && isHex64(cid[len(cid)-64:]) {
				setIf(&m.PodName, pod)
				setIf(&m.Namespace, ns)
				setIf(&m.ContainerName, cid[:len(cid)-65])
				setIf(&m.ContainerID, cid[len(cid)-64:])
				return
			}
		}
	}

	// kubelet: .../pods/<namespace>_<pod>_<uid>/<container>/<restart>.log[.suffix]
	podDir := path.Dir(dir)
	if path.Base(path.Dir(podDir)) == "pods" {
		ns, rest, ok1 := strings.Cut(path.Base(podDir), "_")
		pod, uid, ok2 := strings.Cut(rest, "_")
		stem, _, ok3 := strings.Cut(base, ".log")
		restart, err := strconv.Atoi(stem)
		if ok1 && ok2 && ok3 && err == nil && restart >= 0 && ns != "" && pod != "" && uid != "" &&
			!strings.Contains(uid, "_") && parent != "" && parent != "." && parent != "/" {
			setIf(&m.Namespace, ns)
			setIf(&m.PodName, pod)
			setIf(&m.PodUID, uid)
			setIf(&m.ContainerName, parent)
			if m.RestartCount < 0 {
				m.RestartCount = restart
			}
		}
	}
}

// trimRotation turns "<x><suffix>.<n>" into "<x><suffix>" (docker's rotated
// json-file names); other names are returned unchanged.
func trimRotation(base, suffix string) string {
	if i := strings.LastIndex(base, suffix); i >= 0 {
		rest := base[i+len(suffix):]
		if rest == "" {
			return base
		}
		if rest[0] == '.' {
			if _, err := strconv.Atoi(rest[1:]); err == nil {
				return base[:i+len(suffix)]
			}
		}
	}
	return base
}

func setIf(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
