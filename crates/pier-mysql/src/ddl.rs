//! Classification of binlog QUERY events: transaction control, DDL and statement-logged DML,
//! and whether they touch the synced table.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Str,
    Punct(char),
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let c: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            // Executable comments /*!50001 ... */ and /*M!100101 ... */ hold real SQL.
            let exec = c.get(i + 2) == Some(&'!')
                || (c.get(i + 2) == Some(&'M') && c.get(i + 3) == Some(&'!'));
            if exec {
                i += if c[i + 2] == 'M' { 4 } else { 3 };
                while i < c.len() && c[i].is_ascii_digit() {
                    i += 1;
                }
            } else {
                i += 2;
                while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
        } else if ch == '*' && c.get(i + 1) == Some(&'/') {
            i += 2; // end of an executable comment
        } else if ch == '#'
            || (ch == '-'
                && c.get(i + 1) == Some(&'-')
                && c.get(i + 2).is_none_or(|x| x.is_whitespace()))
        {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '\'' || ch == '"' {
            i += 1;
            while i < c.len() {
                if c[i] == '\\' || (c[i] == ch && c.get(i + 1) == Some(&ch)) {
                    i += 2;
                } else if c[i] == ch {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            out.push(Tok::Str);
        } else if ch == '`' {
            let mut t = String::new();
            i += 1;
            while i < c.len() {
                if c[i] == '`' && c.get(i + 1) == Some(&'`') {
                    t.push('`');
                    i += 2;
                } else if c[i] == '`' {
                    i += 1;
                    break;
                } else {
                    t.push(c[i]);
                    i += 1;
                }
            }
            out.push(Tok::Quoted(t));
        } else if ch.is_alphanumeric() || ch == '_' || ch == '$' {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            out.push(Tok::Word(c[s..i].iter().collect()));
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

/// What a QUERY event is, relative to the synced table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryKind {
    /// `BEGIN` / `START TRANSACTION` / `XA START`.
    Begin,
    /// `COMMIT` / `XA COMMIT` / `XA END` is not a boundary, only COMMIT.
    Commit,
    /// `ROLLBACK` (non-transactional changes were logged before it).
    Rollback,
    /// DDL; `affects` when it changes / drops / renames / truncates / recreates the synced table.
    Ddl { affects: bool },
    /// INSERT/UPDATE/DELETE/REPLACE/LOAD logged as a statement; `affects` when it names the table.
    Dml { affects: bool },
    /// Anything else (SET, SAVEPOINT, GRANT, CREATE USER, ...).
    Other,
}

struct Ctx<'a> {
    toks: Vec<Tok>,
    default_db: &'a str,
    db: &'a str,
    table: &'a str,
}

impl Ctx<'_> {
    fn word(&self, i: usize) -> Option<String> {
        match self.toks.get(i) {
            Some(Tok::Word(w)) => Some(w.to_ascii_uppercase()),
            _ => None,
        }
    }
    fn is(&self, i: usize, k: &str) -> bool {
        self.word(i).as_deref() == Some(k)
    }
    fn ident(&self, i: usize) -> Option<&str> {
        match self.toks.get(i) {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Some(w),
            _ => None,
        }
    }
    /// Table name at `i` (`name` or `db.name`): (matches the synced table, next index).
    fn table_at(&self, i: usize) -> (bool, usize) {
        let Some(first) = self.ident(i) else {
            return (false, i);
        };
        if self.toks.get(i + 1) == Some(&Tok::Punct('.'))
            && let Some(second) = self.ident(i + 2)
        {
            return (
                first.eq_ignore_ascii_case(self.db) && second.eq_ignore_ascii_case(self.table),
                i + 3,
            );
        }
        (
            self.default_db.eq_ignore_ascii_case(self.db) && first.eq_ignore_ascii_case(self.table),
            i + 1,
        )
    }
    fn skip(&self, mut i: usize, words: &[&str]) -> usize {
        while let Some(w) = self.word(i) {
            if words.contains(&w.as_str()) {
                i += 1;
            } else {
                break;
            }
        }
        i
    }
    /// Any (qualified or unqualified) name anywhere that names the synced table.
    fn mentions(&self) -> bool {
        (0..self.toks.len()).any(|i| self.table_at(i).0)
    }
    /// A list of table names separated by commas starting at `i`.
    fn list_matches(&self, mut i: usize) -> bool {
        loop {
            let (m, next) = self.table_at(i);
            if m {
                return true;
            }
            if self.toks.get(next) == Some(&Tok::Punct(',')) {
                i = next + 1;
            } else {
                return false;
            }
        }
    }
}

/// Classify `sql` run with default database `default_db` against the synced `db`.`table`.
pub(crate) fn classify(sql: &str, default_db: &str, db: &str, table: &str) -> QueryKind {
    let cx = Ctx {
        toks: tokenize(sql),
        default_db,
        db,
        table,
    };
    let Some(first) = cx.word(0) else {
        return QueryKind::Other;
    };
    match first.as_str() {
        "BEGIN" => QueryKind::Begin,
        "START" if cx.is(1, "TRANSACTION") => QueryKind::Begin,
        "XA" if cx.is(1, "START") || cx.is(1, "BEGIN") => QueryKind::Begin,
        "XA" if cx.is(1, "COMMIT") => QueryKind::Commit,
        "XA" if cx.is(1, "ROLLBACK") => QueryKind::Rollback,
        "COMMIT" => QueryKind::Commit,
        "ROLLBACK" if !cx.is(1, "TO") => QueryKind::Rollback,
        "ALTER" => {
            let i = cx.skip(1, &["ONLINE", "OFFLINE", "IGNORE"]);
            if cx.is(i, "TABLE") {
                let i = cx.skip(i + 1, &["IF", "EXISTS"]);
                let (m, _) = cx.table_at(i);
                // ALTER TABLE other RENAME [TO|AS] synced
                let renamed_to_us = (0..cx.toks.len()).any(|k| {
                    cx.is(k, "RENAME") && {
                        let j = cx.skip(k + 1, &["TO", "AS"]);
                        !cx.is(k + 1, "COLUMN")
                            && !cx.is(k + 1, "INDEX")
                            && !cx.is(k + 1, "KEY")
                            && cx.table_at(j).0
                    }
                });
                QueryKind::Ddl {
                    affects: m || renamed_to_us,
                }
            } else {
                QueryKind::Ddl { affects: false }
            }
        }
        "DROP" => {
            let i = cx.skip(1, &["TEMPORARY"]);
            if cx.is(i, "TABLE") || cx.is(i, "TABLES") {
                let i = cx.skip(i + 1, &["IF", "EXISTS"]);
                QueryKind::Ddl {
                    affects: cx.list_matches(i),
                }
            } else if cx.is(i, "DATABASE") || cx.is(i, "SCHEMA") {
                let i = cx.skip(i + 1, &["IF", "EXISTS"]);
                QueryKind::Ddl {
                    affects: cx.ident(i).is_some_and(|d| d.eq_ignore_ascii_case(db)),
                }
            } else {
                QueryKind::Ddl { affects: false }
            }
        }
        "RENAME" => QueryKind::Ddl {
            affects: (cx.is(1, "TABLE") || cx.is(1, "TABLES")) && cx.mentions(),
        },
        "TRUNCATE" => {
            let i = cx.skip(1, &["TABLE"]);
            QueryKind::Ddl {
                affects: cx.table_at(i).0,
            }
        }
        "CREATE" => {
            let i = cx.skip(1, &["OR", "REPLACE", "TEMPORARY"]);
            if cx.is(i, "TABLE") {
                let i = cx.skip(i + 1, &["IF", "NOT", "EXISTS"]);
                QueryKind::Ddl {
                    affects: cx.table_at(i).0,
                }
            } else {
                QueryKind::Ddl { affects: false }
            }
        }
        "INSERT" | "REPLACE" | "UPDATE" | "DELETE" | "LOAD" => QueryKind::Dml {
            affects: cx.mentions(),
        },
        _ => QueryKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(sql: &str) -> QueryKind {
        classify(sql, "shop", "shop", "items")
    }

    #[test]
    fn classifies() {
        assert_eq!(k("BEGIN"), QueryKind::Begin);
        assert_eq!(k("COMMIT"), QueryKind::Commit);
        assert_eq!(k("ROLLBACK"), QueryKind::Rollback);
        assert_eq!(k("ROLLBACK TO SAVEPOINT a"), QueryKind::Other);
        let yes = QueryKind::Ddl { affects: true };
        let no = QueryKind::Ddl { affects: false };
        assert_eq!(k("ALTER TABLE items ADD COLUMN x INT"), yes);
        assert_eq!(k("alter online table `shop`.`items` drop x"), yes);
        assert_eq!(k("ALTER TABLE other ADD COLUMN items INT"), no);
        assert_eq!(k("ALTER TABLE other RENAME TO items"), yes);
        assert_eq!(k("ALTER TABLE other RENAME COLUMN items TO y"), no);
        assert_eq!(
            k("DROP TABLE IF EXISTS `a`, `items` /* generated by server */"),
            yes
        );
        assert_eq!(k("DROP TABLE a"), no);
        assert_eq!(k("DROP DATABASE shop"), yes);
        assert_eq!(k("RENAME TABLE items TO items_old"), yes);
        assert_eq!(k("RENAME TABLE x TO y"), no);
        assert_eq!(k("TRUNCATE items"), yes);
        assert_eq!(k("TRUNCATE TABLE other.items"), no);
        assert_eq!(k("CREATE OR REPLACE TABLE items (id int)"), yes);
        assert_eq!(k("CREATE TABLE t2 LIKE items"), no);
        assert_eq!(k("/* x */ ALTER TABLE items ENGINE=InnoDB"), yes);
        assert_eq!(
            classify("ALTER TABLE items ADD x INT", "other", "shop", "items"),
            no
        );
        assert_eq!(
            k("INSERT INTO items VALUES (1)"),
            QueryKind::Dml { affects: true }
        );
        assert_eq!(
            k("INSERT INTO x VALUES ('items')"),
            QueryKind::Dml { affects: false }
        );
        assert_eq!(k("SET @a = 1"), QueryKind::Other);
    }
}
