/*
 * health.c - the table list and row counts.
 *
 * Table names come from the catalog, never from the caller, and are still quoted as
 * identifiers ("name" with '"' doubled) when counted.
 */
#include "ztoq/health.h"

#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "session.h"
#include "ztoq/stmt.h"

ZTOQ_EXTERN(void) ztoq_table_list_free(ztoq_table_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		ztoq__free(list->tables[i].name);
	ztoq__free(list->tables);
	ztoq__free(list);
}

static int add_table(ztoq_stmt *row, void *payload)
{
	ztoq_table_list *list = payload;
	ztoq_table_info *grown;
	const char *name;
	size_t len;
	int code;

	if ((code = ztoq_stmt_get_text(row, 0, &name, &len, NULL)) < 0)
		return code;
	if (!(grown = ztoq__realloc(list->tables, (list->count + 1) * sizeof(*grown))))
		return ztoq__error_nomem();
	list->tables = grown;
	grown[list->count].rows = -1;
	if (!(grown[list->count].name = ztoq__strndup(name, len)))
		return ztoq__error_nomem();
	list->count++;
	return ZTOQ_OK;
}

static int count_rows(ztoq_session *s, ztoq_table_info *table)
{
	ztoq__buf sql = ZTOQ__BUF_INIT;
	char *text;
	int code;

	ztoq__buf_puts(&sql, "SELECT COUNT(*) FROM ");
	ztoq__dialect_quote_ansi(&sql, table->name);
	if ((code = ztoq__buf_detach(&sql, &text)) < 0)
		return code;
	code = ztoq_session_scalar(s, text, NULL, 0, &table->rows, NULL);
	ztoq__free(text);
	return code;
}

ZTOQ_EXTERN(int) ztoq_health_tables(ztoq_table_list **out, ztoq_db *db, int count_rows_too)
{
	ztoq_tx_options read_only = ZTOQ_TX_OPTIONS_INIT;
	ztoq_table_list *list;
	ztoq_session *s;
	int code;

	if (!out || !db)
		return ztoq__error_set(ZTOQ_EINVALID, "ztoq_health_tables: bad arguments");
	*out = NULL;
	if (!(list = ztoq__calloc(1, sizeof(*list))))
		return ztoq__error_nomem();
	if ((code = ztoq_session_open(&s, db)) < 0) {
		ztoq__free(list);
		return code;
	}
	/* the backend is the driver's, known once a connection is open */
	if (!s->conn->dialect->tables_sql)
		code = ztoq__error_set(ZTOQ_EINVALID, "listing tables needs SQLite or PostgreSQL");
	read_only.read_only = 1;
	if (code == ZTOQ_OK)
		code = ztoq_tx_begin(s, &read_only);
	if (code == ZTOQ_OK)
		code = ztoq_session_query(s, s->conn->dialect->tables_sql, NULL, 0, add_table, list);
	for (size_t i = 0; code == ZTOQ_OK && count_rows_too && i < list->count; i++)
		code = count_rows(s, &list->tables[i]);
	if (ztoq_tx_depth(s) && code < 0)
		ztoq__session_rollback_after(s, code); /* the failure's error stays the last one */
	else if (ztoq_tx_depth(s))
		ztoq_tx_rollback(s); /* read only: nothing to commit */
	ztoq_session_close(s);
	if (code < 0) {
		ztoq_table_list_free(list);
		return code;
	}
	*out = list;
	return ZTOQ_OK;
}
