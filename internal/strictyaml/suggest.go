package strictyaml

import (
	"fmt"
	"sort"
	"strings"
)

// SuggestPath is Suggest with the suggestion written as a full field path:
// " (did you mean berth.network?)".
func SuggestPath(parent, key string, known []string) string {
	s := Suggest(key, known)
	if parent != "" && strings.HasPrefix(s, " (did you mean ") {
		return " (did you mean " + parent + "." + strings.TrimPrefix(s, " (did you mean ")
	}
	return s
}

// Suggest returns " (did you mean X?)" when a known name is close to key,
// and otherwise lists the known names.
func Suggest(key string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if dist := editDistance(strings.ToLower(key), strings.ToLower(k)); dist < bestD {
			best, bestD = k, dist
		}
	}
	if best != "" && bestD <= max(1, len(best)/3) {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	if len(known) == 0 {
		return ""
	}
	s := append([]string(nil), known...)
	sort.Strings(s)
	return " (known keys: " + strings.Join(s, ", ") + ")"
}

// editDistance is the Damerau-Levenshtein (optimal string alignment) distance.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
