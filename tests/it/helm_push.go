// The judge of `bundle`'s Helm OCI bytes: Helm 3.21's own code for what `helm push` writes,
// copied field for field (pkg/chart/metadata.go and dependency.go, the sanitising of
// Metadata.Validate, pkg/registry/util.go's annotations, client.go's Push and tagManifest,
// and image-spec v1.1's Manifest and Descriptor), with only the standard library.
// Usage: helm_push METADATA.json CHART.tgz PROV|"" CREATED|"" CONFIG_OUT MANIFEST_OUT
// METADATA.json is what sigs.k8s.io/yaml makes of Chart.yaml. One change from Helm: an empty
// CREATED leaves the annotation out instead of using the time now.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"unicode"
)

type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

type Dependency struct {
	Name         string        `json:"name" yaml:"name"`
	Version      string        `json:"version,omitempty" yaml:"version,omitempty"`
	Repository   string        `json:"repository" yaml:"repository"`
	Condition    string        `json:"condition,omitempty" yaml:"condition,omitempty"`
	Tags         []string      `json:"tags,omitempty" yaml:"tags,omitempty"`
	Enabled      bool          `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	ImportValues []interface{} `json:"import-values,omitempty" yaml:"import-values,omitempty"`
	Alias        string        `json:"alias,omitempty" yaml:"alias,omitempty"`
}

type Metadata struct {
	Name         string            `json:"name,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version,omitempty"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []*Maintainer     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []*Dependency     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

func sanitizeString(str string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, str)
}

func (md *Metadata) sanitize() {
	md.Name = sanitizeString(md.Name)
	md.Description = sanitizeString(md.Description)
	md.Home = sanitizeString(md.Home)
	md.Icon = sanitizeString(md.Icon)
	md.Condition = sanitizeString(md.Condition)
	md.Tags = sanitizeString(md.Tags)
	md.AppVersion = sanitizeString(md.AppVersion)
	md.KubeVersion = sanitizeString(md.KubeVersion)
	for i := range md.Sources {
		md.Sources[i] = sanitizeString(md.Sources[i])
	}
	for i := range md.Keywords {
		md.Keywords[i] = sanitizeString(md.Keywords[i])
	}
	for _, m := range md.Maintainers {
		m.Name = sanitizeString(m.Name)
		m.Email = sanitizeString(m.Email)
		m.URL = sanitizeString(m.URL)
	}
	for _, d := range md.Dependencies {
		d.Name = sanitizeString(d.Name)
		d.Version = sanitizeString(d.Version)
		d.Repository = sanitizeString(d.Repository)
		d.Condition = sanitizeString(d.Condition)
		for i := range d.Tags {
			d.Tags[i] = sanitizeString(d.Tags[i])
		}
	}
}

type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Data         []byte            `json:"data,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func descriptor(mediaType string, data []byte) Descriptor {
	sum := sha256.Sum256(data)
	return Descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

var immutableOciAnnotations = []string{"org.opencontainers.image.version", "org.opencontainers.image.title"}

func addToMap(inputMap map[string]string, newKey string, newValue string) map[string]string {
	if len(strings.TrimSpace(newValue)) > 0 {
		inputMap[newKey] = newValue
	}
	return inputMap
}

func generateChartOCIAnnotations(meta *Metadata, creationTime string) map[string]string {
	a := map[string]string{}
	a = addToMap(a, "org.opencontainers.image.description", meta.Description)
	a = addToMap(a, "org.opencontainers.image.title", meta.Name)
	a = addToMap(a, "org.opencontainers.image.version", meta.Version)
	a = addToMap(a, "org.opencontainers.image.url", meta.Home)
	a = addToMap(a, "org.opencontainers.image.created", creationTime)
	if len(meta.Sources) > 0 {
		a = addToMap(a, "org.opencontainers.image.source", meta.Sources[0])
	}
	if len(meta.Maintainers) > 0 {
		var sb strings.Builder
		for i, m := range meta.Maintainers {
			if len(m.Name) > 0 {
				sb.WriteString(m.Name)
			}
			if len(m.Email) > 0 {
				sb.WriteString(" (")
				sb.WriteString(m.Email)
				sb.WriteString(")")
			}
			if i < len(meta.Maintainers)-1 {
				sb.WriteString(", ")
			}
		}
		a = addToMap(a, "org.opencontainers.image.authors", sb.String())
	}
	return a
}

func generateOCIAnnotations(meta *Metadata, creationTime string) map[string]string {
	oci := generateChartOCIAnnotations(meta, creationTime)
annotations:
	for k, v := range meta.Annotations {
		for _, immutable := range immutableOciAnnotations {
			if immutable == k {
				continue annotations
			}
		}
		oci[k] = v
	}
	return oci
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	raw, err := os.ReadFile(os.Args[1])
	must(err)
	meta := new(Metadata)
	must(json.Unmarshal(raw, meta))
	meta.sanitize()
	chart, err := os.ReadFile(os.Args[2])
	must(err)
	config, err := json.Marshal(meta)
	must(err)
	layers := []Descriptor{descriptor("application/vnd.cncf.helm.chart.content.v1.tar+gzip", chart)}
	if os.Args[3] != "" {
		prov, err := os.ReadFile(os.Args[3])
		must(err)
		layers = append(layers, descriptor("application/vnd.cncf.helm.chart.provenance.v1.prov", prov))
	}
	sort.Slice(layers, func(i, j int) bool { return layers[i].Digest < layers[j].Digest })
	manifest := Manifest{
		SchemaVersion: 2,
		Config:        descriptor("application/vnd.cncf.helm.config.v1+json", config),
		Layers:        layers,
		Annotations:   generateOCIAnnotations(meta, os.Args[4]),
	}
	out, err := json.Marshal(manifest)
	must(err)
	must(os.WriteFile(os.Args[5], config, 0o644))
	must(os.WriteFile(os.Args[6], out, 0o644))
}
