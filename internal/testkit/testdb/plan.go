package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// paramRef is a placeholder of a PostgreSQL statement ($1, $2, ...).
var paramRef = regexp.MustCompile(`\$(\d+)`)

// GenericPlan is the text of the plan PostgreSQL makes on conn for
// statement q with every argument unknown: q is prepared and explained
// executed with NULL for each of its placeholders, then deallocated.
// With plan_cache_mode set to force_generic_plan on conn, this is the
// generic plan a prepared statement may keep after five runs, made
// without the values a run would bind.
func GenericPlan(ctx context.Context, conn *sql.Conn, q string) (string, error) {
	n := 0
	for _, m := range paramRef.FindAllStringSubmatch(q, -1) {
		i, _ := strconv.Atoi(m[1])
		n = max(n, i)
	}
	if _, err := conn.ExecContext(ctx, `PREPARE planned AS `+q); err != nil {
		return "", fmt.Errorf("prepare %q: %w", q, err)
	}
	plan, err := explainPlanned(ctx, conn, n)
	if _, derr := conn.ExecContext(ctx, `DEALLOCATE planned`); derr != nil && err == nil {
		err = fmt.Errorf("deallocate: %w", derr)
	}
	if err != nil {
		return "", fmt.Errorf("explain %q: %w", q, err)
	}
	return plan, nil
}

// explainPlanned is the plan of the prepared statement "planned", run
// with n NULL arguments.
func explainPlanned(ctx context.Context, conn *sql.Conn, n int) (string, error) {
	explain := `EXPLAIN EXECUTE planned`
	if n > 0 {
		// EXECUTE takes no empty list: a statement without placeholders
		// is executed without one.
		explain += `(` + strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ") + `)`
	}
	rows, err := conn.QueryContext(ctx, explain)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		b.WriteString(line + "\n")
	}
	return b.String(), rows.Err()
}
