// Command gotemplate_go expands alert annotation templates with Go's own text/template, in the data shape
// and with the function names Grafana's unified alerting uses (pkg/services/ngalert/state/template:
// Labels, Values as {Labels, Value}, Value; missingkey=invalid; "<no value>" shown as "[no value]"; the
// Prometheus template functions, which take interface{} arguments and fail on values they cannot convert).
// It is a test tool: JSON cases on stdin, JSON results on stdout, one per case, in order.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

type Labels map[string]string

func (l Labels) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ", ")
}

type Value struct {
	Labels Labels
	Value  float64
}

// String shows two significant digits, as Grafana's Value does.
func (v Value) String() string {
	abs := math.Abs(v.Value)
	if abs == 0 {
		return "0"
	}
	precision := 2 - (int(math.Floor(math.Log10(abs))) + 1)
	if precision < 0 {
		precision = 0
	}
	return strconv.FormatFloat(v.Value, 'f', precision, 64)
}

type Data struct {
	Labels Labels
	Values map[string]Value
	Value  string
}

type inputValue struct {
	Labels map[string]string `json:"labels"`
	Value  *float64          `json:"value"` // null: the query had no value (Grafana uses NaN)
}

type inputCase struct {
	Template string                `json:"template"`
	Labels   map[string]string     `json:"labels"`
	Values   map[string]inputValue `json:"values"` // empty: a NoData evaluation
	Value    string                `json:"value"`
}

type result struct {
	Output string `json:"output"`
	Error  string `json:"error"`
}

func toFloat(i interface{}) (float64, error) {
	switch v := i.(type) {
	case float64:
		return v, nil
	case string:
		return strconv.ParseFloat(v, 64)
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case uint:
		return float64(v), nil
	case uint64:
		return float64(v), nil
	case time.Duration:
		return v.Seconds(), nil
	default:
		return 0, fmt.Errorf("can't convert %T to float", i)
	}
}

func scaled(v float64, prefixes []string, step float64, up bool) (float64, string) {
	prefix := ""
	for _, p := range prefixes {
		if up && math.Abs(v) < step || !up && math.Abs(v) >= 1 {
			break
		}
		prefix = p
		if up {
			v /= step
		} else {
			v *= step
		}
	}
	return v, prefix
}

var small = []string{"m", "u", "n", "p", "f", "a", "z", "y"}

func humanize(i interface{}) (string, error) {
	v, err := toFloat(i)
	if err != nil {
		return "", err
	}
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprintf("%.4g", v), nil
	}
	if math.Abs(v) >= 1 {
		v, p := scaled(v, []string{"k", "M", "G", "T", "P", "E", "Z", "Y"}, 1000, true)
		return fmt.Sprintf("%.4g%s", v, p), nil
	}
	v, p := scaled(v, small, 1000, false)
	return fmt.Sprintf("%.4g%s", v, p), nil
}

func humanizeDuration(i interface{}) (string, error) {
	v, err := toFloat(i)
	if err != nil {
		return "", err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprintf("%.4g", v), nil
	}
	if v == 0 {
		return fmt.Sprintf("%.4gs", v), nil
	}
	if math.Abs(v) >= 1 {
		sign := ""
		if v < 0 {
			sign, v = "-", -v
		}
		whole := int64(v)
		seconds, minutes, hours, days := whole%60, (whole/60)%60, (whole/3600)%24, whole/86400
		switch {
		case days != 0:
			return fmt.Sprintf("%s%dd %dh %dm %ds", sign, days, hours, minutes, seconds), nil
		case hours != 0:
			return fmt.Sprintf("%s%dh %dm %ds", sign, hours, minutes, seconds), nil
		case minutes != 0:
			return fmt.Sprintf("%s%dm %ds", sign, minutes, seconds), nil
		}
		return fmt.Sprintf("%s%.4gs", sign, v), nil
	}
	v, p := scaled(v, small, 1000, false)
	return fmt.Sprintf("%.4g%ss", v, p), nil
}

func humanizePercentage(i interface{}) (string, error) {
	v, err := toFloat(i)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%.4g%%", v*100), nil
}

var funcs = template.FuncMap{
	"humanize":           humanize,
	"humanizeDuration":   humanizeDuration,
	"humanizePercentage": humanizePercentage,
	"toUpper":            strings.ToUpper,
	"toLower":            strings.ToLower,
	"title":              strings.Title, //nolint:staticcheck // the function Prometheus exposes
	"match":              regexp.MatchString,
	"reReplaceAll": func(pattern, repl, text string) string {
		return regexp.MustCompile(pattern).ReplaceAllString(text, repl)
	},
}

// Grafana prepends these so summaries can say $labels, $values and $value.
const preamble = "{{- $labels := .Labels -}}{{- $values := .Values -}}{{- $value := .Value -}}"

func expand(c inputCase) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	values := map[string]Value{}
	for ref, v := range c.Values {
		f := math.NaN()
		if v.Value != nil {
			f = *v.Value
		}
		values[ref] = Value{Labels: Labels(v.Labels), Value: f}
	}
	tmpl, err := template.New("summary").Funcs(funcs).Option("missingkey=invalid").Parse(preamble + c.Template)
	if err != nil {
		return "", err
	}
	var buffer bytes.Buffer
	if err := tmpl.Execute(&buffer, Data{Labels: Labels(c.Labels), Values: values, Value: c.Value}); err != nil {
		return "", err
	}
	return strings.ReplaceAll(buffer.String(), "<no value>", "[no value]"), nil
}

func main() {
	var cases []inputCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		fmt.Fprintln(os.Stderr, "cannot read cases:", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(cases))
	for _, c := range cases {
		out, err := expand(c)
		r := result{Output: out}
		if err != nil {
			r.Error = err.Error()
		}
		results = append(results, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Exit(1)
	}
}
