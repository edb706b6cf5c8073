"""Text to SQL under the bundled SQL grammar (grammars/sql.lark): the output always parses.

The prompt gives the tables and a question; ``constrain.grammar`` decodes greedily under the
grammar of SELECT and INSERT statements, so whatever the small default model writes is a
syntactically valid query (the grammar cannot know the table's columns: pick a bigger model
for better queries). The query is then run on an in-memory SQLite database with sample rows.

Usage: python examples/sql_query.py [--max-new-tokens 60] [--model DIR] [QUESTION]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

import constrain
from constrain.generation import IncompleteOutputError

TABLES = """\
CREATE TABLE employees (id INTEGER, name TEXT, department TEXT, salary REAL);
"""
ROWS = [
    (1, "Ada", "research", 5200.0),
    (2, "Grace", "engineering", 6100.0),
    (3, "Alan", "research", 4800.0),
    (4, "Edsger", "engineering", 5900.0),
]


def prompt_for(question: str) -> str:
    return f"{TABLES}\nWrite one SQL query that answers: {question}\nAnswer with the SQL query only."


def run(query: str) -> list[tuple]:
    """The query's rows on a throwaway database holding ROWS (errors are SQLite's, not syntax)."""
    database = sqlite3.connect(":memory:")
    database.executescript(TABLES)
    database.executemany("INSERT INTO employees VALUES (?, ?, ?, ?)", ROWS)
    return database.execute(query).fetchall()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="What are the names of the employees in research?")
    parser.add_argument("--max-new-tokens", type=int, default=60)
    parser.add_argument("--model", default="default", help="'default' or a local model directory")
    args = parser.parse_args(argv)
    try:
        query = constrain.grammar(
            args.model, "sql", prompt_for(args.question), temperature=0, max_new_tokens=args.max_new_tokens
        )
    except IncompleteOutputError as error:
        print(f"the token budget ran out; partial query: {error.partial}", file=sys.stderr)
        return 1
    print(f"query: {query}")
    try:
        print(f"rows: {run(query)}")
    except sqlite3.Error as error:
        print(f"valid SQL, but SQLite cannot run it on this table: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
