# failures.awk reads go test's output (-v or not) and prints, for each
# failing test that has no failing subtest, the lines it wrote (its errors
# and logs), at most 30 each: the reasons of a red run, gathered at the
# end of a long log. -v output names the test each line is from (=== RUN,
# CONT, NAME, PAUSE); without -v a test's lines follow its --- FAIL line.
/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
/^ *--- (FAIL|PASS|SKIP): / {
	name = $3
	cur = name
	if ($2 == "FAIL:" && !(name in failed)) {
		failed[name] = 1
		order[++n] = name
	}
	next
}
/^[ \t]/ {
	if (cur != "") {
		lines[cur]++
		if (lines[cur] <= 30)
			text[cur] = text[cur] $0 "\n"
	}
}
END {
	for (i = 1; i <= n; i++) {
		name = order[i]
		leaf = 1
		for (j = 1; j <= n; j++)
			if (index(order[j], name "/") == 1)
				leaf = 0
		if (!leaf)
			continue
		printf "--- FAIL: %s\n", name
		if (lines[name] == 0)
			print "    (it wrote no line)"
		else
			printf "%s", text[name]
		if (lines[name] > 30)
			printf "    ... %d more lines\n", lines[name] - 30
	}
}
