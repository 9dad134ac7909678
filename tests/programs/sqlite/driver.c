/* Runs the SQL on standard input against an in-memory SQLite database and prints every result
 * row, one line each, columns separated by '|'. Exits 1 with the error on stderr on failure.
 * A fixture of the compile-budget tests (docs/testing.md, "Real programs"). */
#include <stdio.h>
#include <stdlib.h>
#include "sqlite3.h"

static int print_row(void *unused, int columns, char **values, char **names) {
    (void)unused;
    (void)names;
    for (int i = 0; i < columns; i++) {
        printf("%s%s", i ? "|" : "", values[i] ? values[i] : "NULL");
    }
    printf("\n");
    return 0;
}

int main(void) {
    size_t cap = 1 << 16, len = 0, n;
    char *sql = malloc(cap);
    while (sql && (n = fread(sql + len, 1, cap - len - 1, stdin)) > 0) {
        len += n;
        if (len + 1 == cap) {
            cap *= 2;
            sql = realloc(sql, cap);
        }
    }
    if (!sql) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    sql[len] = 0;
    sqlite3 *db;
    char *error = 0;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db, sql, print_row, 0, &error) != SQLITE_OK) {
        fprintf(stderr, "%s\n", error ? error : sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_close(db);
    return 0;
}
