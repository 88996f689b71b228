-- A comment with "# and "## and a \ backslash: the raw string must not end early.
CREATE TABLE notes (body TEXT NOT NULL DEFAULT 'say "#hi"');
