package parser

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGolden decodes each testdata/golden/<name>.log as the tailer would
// (line by line, then Flush at the end) and compares the records, one NDJSON
// line each ({"_id":..,"time":..,"doc":{..}}), with <name>.ndjson.
func TestGolden(t *testing.T) {
	const uid = "6f1b7e9a-3c2d-4e5f-8a9b-0c1d2e3f4a5b"
	id := "4f2a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"
	tests := []struct {
		name string
		src  Source
		max  int
	}{
		{
			name: "docker",
			src: Source{
				Path:     "/var/log/containers/api-5c9d8f7b6-x2k4p_shop_api-" + id + ".log",
				Resolved: "/var/lib/docker/containers/" + id + "/" + id + "-json.log",
			},
		},
		{
			name: "cri",
			src: Source{
				Path:     "/var/log/containers/web.frontend-0_prod_nginx-" + id + ".log",
				Resolved: "/var/log/pods/prod_web.frontend-0_" + uid + "/nginx/1.log",
			},
		},
		{
			name: "cri_truncated",
			src:  Source{Path: "/var/log/pods/prod_web-0_" + uid + "/app/0.log.20240501-100000"},
			max:  20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "golden", tt.name+".log"))
			if err != nil {
				t.Fatal(err)
			}
			cfg := testConfig()
			cfg.MaxLineBytes = tt.max
			tt.src.FileKey = testFileKey
			d := NewDecoder(cfg, tt.src)
			var ls []Line
			var off int64
			sc := bufio.NewScanner(bytes.NewReader(in))
			for sc.Scan() {
				b := bytes.Clone(sc.Bytes())
				ls = append(ls, Line{Bytes: b, Start: off, End: off + int64(len(b)) + 1})
				off += int64(len(b)) + 1
			}
			recs := decodeAll(t, d, ls)
			recs = d.Flush(recs)
			var got bytes.Buffer
			for _, r := range recs {
				mustDoc(t, r)
				got.WriteString(`{"_id":"` + r.ID.String() + `","time":` + strconv.FormatInt(r.Time, 10) + `,"doc":`)
				got.Write(r.Document())
				got.WriteString("}\n")
			}
			path := filepath.Join("testdata", "golden", tt.name+".ndjson")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
				for i := 0; i < len(gl) || i < len(wl); i++ {
					var g, w []byte
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if !bytes.Equal(g, w) {
						t.Fatalf("%s differs at line %d\n got %s\nwant %s\n(run with -update after checking the change)", path, i+1, g, w)
					}
				}
			}
		})
	}
}
