// A second renderer of the project's Helm charts, for the suites only: Go's own text/template with
// the Sprig function library, set up the way Helm 3's template engine sets them up (Sprig's
// TxtFuncMap without env/expandenv; toYaml, fromYaml, toJson, fromJson, include, tpl, required,
// lookup; missingkey=zero with "<no value>" removed; values read through JSON so that numbers are
// float64; .Values, .Release, .Chart, .Files, .Template, .Capabilities). No helm binary can be
// installed on the machines the suites run on; Go and Sprig come from Debian's packages.
//
// Usage: helm-engine <chart dir> <values.json> <release name> <namespace>
// Prints {"files": {"<chart>/templates/x.yaml": "<rendered text>", ...}} or {"error": "..."}.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v2"
)

// toJSONish turns what yaml.v2 reads into what Helm's sigs.k8s.io/yaml gives: string-keyed maps and
// float64 numbers (it goes through JSON).
func toJSONish(v interface{}) interface{} {
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		panic(err)
	}
	var out interface{}
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func jsonable(v interface{}) interface{} {
	switch x := v.(type) {
	case map[interface{}]interface{}:
		m := map[string]interface{}{}
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []interface{}:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	}
	return v
}

// coalesce merges user values over the chart's defaults as Helm does: maps deeply, a null deletes.
func coalesce(base, over map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = coalesce(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

// Helm's toYaml: sigs.k8s.io/yaml.Marshal (JSON, then YAML), without the final newline.
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return ""
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Files is Helm's .Files: the chart's files outside templates/.
type Files map[string][]byte

func (f Files) Get(name string) string { return string(f[name]) }

func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func fail(msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	os.Stdout.Write(b)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 5 {
		fail("usage: helm-engine <chart dir> <values.json> <release name> <namespace>")
	}
	chartDir, valuesFile, releaseName, namespace := os.Args[1], os.Args[2], os.Args[3], os.Args[4]

	var chartYaml map[interface{}]interface{}
	raw, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		fail(err.Error())
	}
	if err := yaml.Unmarshal(raw, &chartYaml); err != nil {
		fail(err.Error())
	}
	chartName := fmt.Sprint(chartYaml["name"])
	meta := map[string]interface{}{}
	for k, v := range chartYaml {
		key := fmt.Sprint(k)
		meta[strings.ToUpper(key[:1])+key[1:]] = toJSONish(v)
	}
	if v, ok := chartYaml["apiVersion"]; ok {
		meta["APIVersion"] = v
	}

	var defaults interface{}
	raw, err = os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		fail(err.Error())
	}
	if err := yaml.Unmarshal(raw, &defaults); err != nil {
		fail(err.Error())
	}
	values, _ := toJSONish(defaults).(map[string]interface{})
	if values == nil {
		values = map[string]interface{}{}
	}
	var over map[string]interface{}
	raw, err = os.ReadFile(valuesFile)
	if err != nil {
		fail(err.Error())
	}
	if err := json.Unmarshal(raw, &over); err != nil {
		fail(err.Error())
	}
	values = coalesce(values, over)

	files := Files{}
	var templates []string
	err = filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, "templates/") {
			templates = append(templates, rel)
		} else if rel != "Chart.yaml" && rel != "values.yaml" {
			data, _ := os.ReadFile(p)
			files[rel] = data
		}
		return nil
	})
	if err != nil {
		fail(err.Error())
	}
	sort.Strings(templates)

	root := template.New("gotpl")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		var v interface{}
		if err := yaml.Unmarshal([]byte(s), &v); err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		m, _ := toJSONish(v).(map[string]interface{})
		return m
	}
	funcs["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	funcs["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, fmt.Errorf("%s", msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	// As `helm template` renders: no cluster to look into, so every lookup finds nothing.
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	root.Funcs(funcs).Option("missingkey=zero")

	for _, rel := range templates {
		data, _ := os.ReadFile(filepath.Join(chartDir, rel))
		if _, err := root.New(chartName + "/" + rel).Parse(string(data)); err != nil {
			fail(err.Error())
		}
	}

	out := map[string]string{}
	for _, rel := range templates {
		if strings.HasPrefix(path.Base(rel), "_") {
			continue
		}
		name := chartName + "/" + rel
		top := map[string]interface{}{
			"Values": values,
			"Release": map[string]interface{}{
				"Name": releaseName, "Namespace": namespace, "Service": "Helm",
				"Revision": 1, "IsInstall": true, "IsUpgrade": false,
			},
			"Chart":        meta,
			"Files":        files,
			"Capabilities": map[string]interface{}{"KubeVersion": map[string]interface{}{"Version": "v1.29.0", "Major": "1", "Minor": "29"}},
			"Template":     map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, top); err != nil {
			fail(err.Error())
		}
		out[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	b, _ := json.Marshal(map[string]interface{}{"files": out})
	os.Stdout.Write(b)
}
