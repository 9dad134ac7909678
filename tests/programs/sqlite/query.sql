CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL);
INSERT INTO t(name, score) VALUES ('ada', 3.5), ('bob', 2.25), ('cy', NULL), ('dee', 9);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000)
INSERT INTO t(name, score) SELECT 'n' || x, x * 0.5 FROM n;
SELECT count(*), sum(score), avg(score), max(name) FROM t;
SELECT name, score FROM t WHERE score > 2 ORDER BY score DESC LIMIT 5;
SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY id LIMIT 4);
SELECT printf('%.3f', 1.0 / 3), upper('sqlite'), length(x'0102'), typeof(NULL);
SELECT sqlite_version();
