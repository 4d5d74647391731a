/*
 * faultdrv.c - an ODBC driver for the tests only: it forwards every call to a real
 * driver and, on command, fails the Nth call of one function with a chosen SQLSTATE,
 * or stalls it (docs/reliability.md).
 *
 * Built twice by the Makefile: faultdrv_sqlite.so forwards to the SQLite ODBC driver
 * and exports only ANSI entry points, like that driver; faultdrv_pg.so (FAULTDRV_WIDE)
 * forwards to psqlODBC's Unicode driver and also exports the W entry points, so the
 * driver manager talks to it exactly as it talks to the target. FAULTDRV_TARGET is the
 * target's path (configure found it); ZTOQ_FAULT_TARGET overrides it.
 *
 * Handles are the target's own: the driver manager hands them back unchanged, and this
 * file keeps a side table (handle -> injected diagnostic, parent connection, dead flag).
 *
 * Command: a rule "FUNCTION:N:ACTION", ACTION being a SQLSTATE (08S01, 40001, 40P01,
 * HY000, HYT00, 57014, ...) or "stall=MS". It comes from the file named by
 * ZTOQ_FAULT_FILE, re-read on every call (a change of its text restarts the counts), or
 * else from ZTOQ_FAULT, read once. The calls of each fault site are counted per process;
 * faultdrv_calls() and faultdrv_fired() report them to a test in the same process.
 * An ANSI function and its W variant are one fault site.
 *
 * Thread-safe: the side table and the counts are under one mutex, never held while the
 * target runs.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sql.h>
#include <sqlext.h>
#ifdef FAULTDRV_WIDE
#include <sqlucode.h>
#endif

#define EXPORT __attribute__((visibility("default")))

/* The functions whose Nth call can fail: faultdrv_calls() takes these names. */
enum site {
	SITE_DRIVERCONNECT, SITE_PREPARE, SITE_EXECUTE, SITE_EXECDIRECT, SITE_FETCH,
	SITE_GETDATA, SITE_ENDTRAN, SITE_SETCONNECTATTR, SITE_COUNT,
	PASS = -2, /* forwarded as is, even on a dead connection */
	LIVE = -1  /* no fault site, but fails with 08S01 on a dead connection */
};

static const char *const site_names[SITE_COUNT] = {
	"SQLDriverConnect", "SQLPrepare", "SQLExecute", "SQLExecDirect", "SQLFetch",
	"SQLGetData", "SQLEndTran", "SQLSetConnectAttr",
};

/* One handle the driver manager got from the target. */
struct handle {
	struct handle *next;
	SQLHANDLE h;
	SQLSMALLINT type;
	struct handle *dbc;  /* a statement's connection, or itself */
	int dead;            /* connection: an injected 08S01 broke it */
	long query_timeout;  /* statement: SQL_ATTR_QUERY_TIMEOUT in seconds, 0 = none */
	char state[6];       /* pending injected diagnostic, "" if none */
	char message[160];
};

/* The rule in force and the counts since it was set. */
static struct {
	char text[256];      /* the control text the rule came from */
	int site;            /* -1: no rule (only counting) */
	unsigned long nth;
	char state[6];       /* "" for a stall */
	long stall_ms;
	unsigned long calls[SITE_COUNT];
	unsigned long fired;
	int env_read;
} rule = {.site = -1};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle *handles;

/* ---- the target ---------------------------------------------------------------- */

/* Every entry point forwarded (each has its prototype in sql.h, sqlext.h, sqlucode.h). */
#define ANSI_FUNCS(X) \
	X(SQLAllocHandle) X(SQLFreeHandle) X(SQLFreeStmt) X(SQLSetEnvAttr) \
	X(SQLGetEnvAttr) X(SQLDriverConnect) X(SQLConnect) X(SQLDisconnect) \
	X(SQLSetConnectAttr) X(SQLGetConnectAttr) X(SQLGetInfo) X(SQLGetFunctions) \
	X(SQLEndTran) X(SQLNativeSql) X(SQLPrepare) X(SQLExecute) X(SQLExecDirect) \
	X(SQLFetch) X(SQLFetchScroll) X(SQLExtendedFetch) X(SQLGetData) X(SQLSetPos) \
	X(SQLMoreResults) X(SQLNumResultCols) X(SQLDescribeCol) X(SQLColAttribute) \
	X(SQLRowCount) X(SQLBindCol) X(SQLBindParameter) X(SQLNumParams) \
	X(SQLDescribeParam) X(SQLSetStmtAttr) X(SQLGetStmtAttr) X(SQLCloseCursor) \
	X(SQLCancel) X(SQLParamData) X(SQLPutData) X(SQLTables) X(SQLColumns) \
	X(SQLGetTypeInfo) X(SQLGetDiagRec) X(SQLGetDiagField)

#ifdef FAULTDRV_WIDE
#define ODBC2_FUNCS(X)
#define WIDE_FUNCS(X) \
	X(SQLDriverConnectW) X(SQLConnectW) X(SQLSetConnectAttrW) X(SQLGetConnectAttrW) \
	X(SQLGetInfoW) X(SQLNativeSqlW) X(SQLPrepareW) X(SQLExecDirectW) \
	X(SQLDescribeColW) X(SQLColAttributeW) X(SQLSetStmtAttrW) X(SQLGetStmtAttrW) \
	X(SQLTablesW) X(SQLColumnsW) X(SQLGetTypeInfoW) X(SQLGetDiagRecW) \
	X(SQLGetDiagFieldW)
#else
/* the SQLite driver's ODBC 2 error function: unixODBC asks it for diagnostics */
#define ODBC2_FUNCS(X) X(SQLError)
#define WIDE_FUNCS(X)
#endif

#define ALL_FUNCS(X) ANSI_FUNCS(X) ODBC2_FUNCS(X) WIDE_FUNCS(X)

/* The target's entry points, NULL where it has none; CALL() gives each the type of
 * our entry point of the same name. */
static struct {
#define X(name) void *name;
	ALL_FUNCS(X)
#undef X
} target;

static pthread_once_t target_once = PTHREAD_ONCE_INIT;

/* Loads the target once; on failure every entry point answers IM003. Never unloaded:
 * psqlODBC leaves process-wide state behind. */
static void target_load(void)
{
	const char *path = getenv("ZTOQ_FAULT_TARGET");
	void *lib;

	if (!path || !*path)
		path = FAULTDRV_TARGET;
	if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		fprintf(stderr, "faultdrv: cannot load %s: %s\n", path, dlerror());
		return;
	}
#define X(name) target.name = dlsym(lib, #name);
	ALL_FUNCS(X)
#undef X
}

/* ---- the side table -------------------------------------------------------------- */

/* The entry of `h`, or NULL. Caller holds `lock`. */
static struct handle *handle_find(SQLHANDLE h)
{
	struct handle *e;

	for (e = handles; e && h; e = e->next)
		if (e->h == h)
			return e;
	return NULL;
}

/* Records a handle the target just allocated (connections and statements only). */
static void handle_add(SQLSMALLINT type, SQLHANDLE parent, SQLHANDLE h)
{
	struct handle *e;

	if ((type != SQL_HANDLE_DBC && type != SQL_HANDLE_STMT) || !(e = calloc(1, sizeof(*e))))
		return;
	e->h = h;
	e->type = type;
	pthread_mutex_lock(&lock);
	e->dbc = type == SQL_HANDLE_DBC ? e : handle_find(parent);
	e->next = handles;
	handles = e;
	pthread_mutex_unlock(&lock);
}

/* Forgets a freed handle, and a freed connection's statements with it. */
static void handle_remove(SQLHANDLE h)
{
	struct handle **p = &handles, *e, *gone;

	pthread_mutex_lock(&lock);
	gone = handle_find(h);
	while ((e = *p)) {
		if (e == gone || (gone && e->dbc == gone)) {
			*p = e->next;
			free(e);
		} else {
			p = &e->next;
		}
	}
	pthread_mutex_unlock(&lock);
}

/* Sets the injected diagnostic of `e` (and breaks its connection on 08S01). Caller
 * holds `lock`. */
static SQLRETURN inject(struct handle *e, const char *state, const char *what)
{
	snprintf(e->state, sizeof(e->state), "%s", state);
	snprintf(e->message, sizeof(e->message), "[ztoq faultdrv] injected fault: %s in %s",
		 state, what);
	if (strcmp(state, "08S01") == 0 && e->dbc)
		e->dbc->dead = 1;
	return SQL_ERROR;
}

/* ---- the rule --------------------------------------------------------------------- */

/* Parses "FUNCTION:N:ACTION" (or "" for counting only) into `rule`; restarts the
 * counts. Caller holds `lock`. */
static void rule_set(const char *text)
{
	char fn[64] = "", action[32] = "";
	unsigned long nth = 0;

	snprintf(rule.text, sizeof(rule.text), "%s", text);
	memset(rule.calls, 0, sizeof(rule.calls));
	rule.fired = 0;
	rule.site = -1;
	rule.state[0] = 0;
	rule.stall_ms = 0;
	/* a line "# ..." before the rule only makes the text differ, to restart counts */
	while (*text == '#' && strchr(text, '\n'))
		text = strchr(text, '\n') + 1;
	if (sscanf(text, "%63[^:]:%lu:%31s", fn, &nth, action) != 3)
		return;
	for (int i = 0; i < SITE_COUNT; i++)
		if (strcmp(fn, site_names[i]) == 0)
			rule.site = i;
	rule.nth = nth;
	if (strncmp(action, "stall=", 6) == 0)
		rule.stall_ms = atol(action + 6);
	else
		snprintf(rule.state, sizeof(rule.state), "%s", action);
	if (rule.site < 0 || nth == 0 || (!rule.stall_ms && strlen(rule.state) != 5)) {
		fprintf(stderr, "faultdrv: ignoring bad rule '%s'\n", text);
		rule.site = -1;
	}
}

/* Re-reads the command (control file, else the environment once). Caller holds `lock`. */
static void rule_refresh(void)
{
	const char *path = getenv("ZTOQ_FAULT_FILE");
	char text[sizeof(rule.text)];
	ssize_t n;
	int fd;

	if (!path || !*path) {
		if (!rule.env_read) {
			rule.env_read = 1;
			rule_set(getenv("ZTOQ_FAULT") ? getenv("ZTOQ_FAULT") : "");
		}
		return;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		n = 0;
	} else {
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
	}
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	text[n > 0 ? n : 0] = 0;
	if (strcmp(text, rule.text) != 0)
		rule_set(text);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Runs before every forwarded call on `h`: clears the handle's injected diagnostic,
 * counts the call of `site`, and decides. Returns SQL_SUCCESS to go on to the target,
 * or the code to return instead (the diagnostic is then set on `h`).
 */
static SQLRETURN enter(int site, SQLHANDLE h, const char *what)
{
	struct handle *e;
	long stall = 0, limit = 0;
	SQLRETURN rc = SQL_SUCCESS;

	pthread_once(&target_once, target_load);
	pthread_mutex_lock(&lock);
	e = handle_find(h);
	if (e)
		e->state[0] = 0;
	if (site == PASS)
		goto out;
	if (e && e->dbc && e->dbc->dead) {
		rc = inject(e, "08S01", what);
		goto out;
	}
	if (site == LIVE)
		goto out;
	rule_refresh();
	if (++rule.calls[site] != rule.nth || site != rule.site)
		goto out;
	rule.fired++;
	if (rule.stall_ms) {
		stall = rule.stall_ms;
		limit = e ? e->query_timeout * 1000 : 0;
	} else if (e) {
		rc = inject(e, rule.state, what);
	} else {
		rc = SQL_INVALID_HANDLE;
	}
out:
	pthread_mutex_unlock(&lock);
	if (stall) {
		/* a statement with a query timeout gives up as a real driver would */
		sleep_ms(limit && limit < stall ? limit : stall);
		if (limit && limit < stall) {
			pthread_mutex_lock(&lock);
			if ((e = handle_find(h)))
				rc = inject(e, "HYT00", what);
			pthread_mutex_unlock(&lock);
		}
	}
	return rc;
}

/* How many calls of `name` (a fault site: "SQLExecute", ...) since the rule was set;
 * for a test in the same process (dlsym). Thread-safe. */
EXPORT unsigned long faultdrv_calls(const char *name);
EXPORT unsigned long faultdrv_calls(const char *name)
{
	unsigned long n = 0;

	pthread_mutex_lock(&lock);
	rule_refresh();
	for (int i = 0; i < SITE_COUNT; i++)
		if (strcmp(name, site_names[i]) == 0)
			n = rule.calls[i];
	pthread_mutex_unlock(&lock);
	return n;
}

/* How many faults were injected since the rule was set. Thread-safe. */
EXPORT unsigned long faultdrv_fired(void);
EXPORT unsigned long faultdrv_fired(void)
{
	unsigned long n;

	pthread_mutex_lock(&lock);
	n = rule.fired;
	pthread_mutex_unlock(&lock);
	return n;
}

/* ---- forwarders ----------------------------------------------------------------- */

#define CALL(name, ...) \
	(target.name ? ((__typeof__(&name))target.name)(__VA_ARGS__) : missing(#name))

static SQLRETURN missing(const char *name)
{
	fprintf(stderr, "faultdrv: the target has no %s\n", name);
	return SQL_ERROR;
}

/* Defines an exported entry point that runs enter(site, handle) and then forwards. */
#define FORWARD(site, name, h, params, ...) \
	EXPORT SQLRETURN SQL_API name params \
	{ \
		SQLRETURN rc_ = enter(site, h, #name); \
		return rc_ != SQL_SUCCESS ? rc_ : CALL(name, __VA_ARGS__); \
	}

/* Runs m(name, SQLCHAR) and, in the Unicode build, m(nameW, SQLWCHAR). */
#ifdef FAULTDRV_WIDE
#define ANSI_AND_WIDE(m, name) m(name, SQLCHAR) m(name##W, SQLWCHAR)
#else
#define ANSI_AND_WIDE(m, name) m(name, SQLCHAR)
#endif

/* The entry points that have a W variant, with T the character type. */
#define F_DRIVERCONNECT(name, T) \
	FORWARD(SITE_DRIVERCONNECT, name, c, \
		(SQLHDBC c, SQLHWND w, T *in, SQLSMALLINT inl, T *out, SQLSMALLINT outl, \
		 SQLSMALLINT *outp, SQLUSMALLINT compl), c, w, in, inl, out, outl, outp, compl)
#define F_CONNECT(name, T) \
	FORWARD(LIVE, name, c, \
		(SQLHDBC c, T *d, SQLSMALLINT dl, T *u, SQLSMALLINT ul, T *p, SQLSMALLINT pl), \
		c, d, dl, u, ul, p, pl)
#define F_SETCONNECTATTR(name, T) \
	FORWARD(SITE_SETCONNECTATTR, name, c, \
		(SQLHDBC c, SQLINTEGER a, SQLPOINTER v, SQLINTEGER l), c, a, v, l)
#define F_GETINFO(name, T) \
	FORWARD(PASS, name, c, \
		(SQLHDBC c, SQLUSMALLINT i, SQLPOINTER v, SQLSMALLINT l, SQLSMALLINT *o), \
		c, i, v, l, o)
#define F_NATIVESQL(name, T) \
	FORWARD(PASS, name, c, \
		(SQLHDBC c, T *in, SQLINTEGER inl, T *out, SQLINTEGER outl, SQLINTEGER *o), \
		c, in, inl, out, outl, o)
#define F_PREPARE(name, T) \
	FORWARD(SITE_PREPARE, name, s, (SQLHSTMT s, T *q, SQLINTEGER l), s, q, l)
#define F_EXECDIRECT(name, T) \
	FORWARD(SITE_EXECDIRECT, name, s, (SQLHSTMT s, T *q, SQLINTEGER l), s, q, l)
#define F_DESCRIBECOL(name, T) \
	FORWARD(PASS, name, s, \
		(SQLHSTMT s, SQLUSMALLINT c, T *n, SQLSMALLINT nl, SQLSMALLINT *np, \
		 SQLSMALLINT *t, SQLULEN *sz, SQLSMALLINT *d, SQLSMALLINT *nu), \
		s, c, n, nl, np, t, sz, d, nu)
#define F_COLATTRIBUTE(name, T) \
	FORWARD(PASS, name, s, \
		(SQLHSTMT s, SQLUSMALLINT c, SQLUSMALLINT f, SQLPOINTER v, SQLSMALLINT l, \
		 SQLSMALLINT *o, SQLLEN *n), s, c, f, v, l, o, n)
#define F_GETSTMTATTR(name, T) \
	FORWARD(PASS, name, s, \
		(SQLHSTMT s, SQLINTEGER a, SQLPOINTER v, SQLINTEGER l, SQLINTEGER *o), \
		s, a, v, l, o)
#define F_CATALOG(name, T) \
	FORWARD(LIVE, name, s, \
		(SQLHSTMT s, T *c, SQLSMALLINT cl, T *sc, SQLSMALLINT scl, T *t, \
		 SQLSMALLINT tl, T *x, SQLSMALLINT xl), s, c, cl, sc, scl, t, tl, x, xl)
#define F_GETTYPEINFO(name, T) \
	FORWARD(LIVE, name, s, (SQLHSTMT s, SQLSMALLINT t), s, t)

ANSI_AND_WIDE(F_DRIVERCONNECT, SQLDriverConnect)
ANSI_AND_WIDE(F_CONNECT, SQLConnect)
ANSI_AND_WIDE(F_SETCONNECTATTR, SQLSetConnectAttr)
ANSI_AND_WIDE(F_GETINFO, SQLGetInfo)
ANSI_AND_WIDE(F_NATIVESQL, SQLNativeSql)
ANSI_AND_WIDE(F_PREPARE, SQLPrepare)
ANSI_AND_WIDE(F_EXECDIRECT, SQLExecDirect)
ANSI_AND_WIDE(F_DESCRIBECOL, SQLDescribeCol)
ANSI_AND_WIDE(F_COLATTRIBUTE, SQLColAttribute)
ANSI_AND_WIDE(F_GETSTMTATTR, SQLGetStmtAttr)
ANSI_AND_WIDE(F_CATALOG, SQLTables)
ANSI_AND_WIDE(F_CATALOG, SQLColumns)
ANSI_AND_WIDE(F_GETTYPEINFO, SQLGetTypeInfo)

/* The entry points without a W variant. */
FORWARD(PASS, SQLFreeStmt, s, (SQLHSTMT s, SQLUSMALLINT o), s, o)
FORWARD(PASS, SQLSetEnvAttr, e, (SQLHENV e, SQLINTEGER a, SQLPOINTER v, SQLINTEGER l), e, a, v, l)
FORWARD(PASS, SQLGetEnvAttr, e,
	(SQLHENV e, SQLINTEGER a, SQLPOINTER v, SQLINTEGER l, SQLINTEGER *o), e, a, v, l, o)
FORWARD(PASS, SQLGetFunctions, c, (SQLHDBC c, SQLUSMALLINT f, SQLUSMALLINT *o), c, f, o)
FORWARD(SITE_ENDTRAN, SQLEndTran, h, (SQLSMALLINT t, SQLHANDLE h, SQLSMALLINT k), t, h, k)
FORWARD(SITE_EXECUTE, SQLExecute, s, (SQLHSTMT s), s)
FORWARD(SITE_FETCH, SQLFetch, s, (SQLHSTMT s), s)
FORWARD(LIVE, SQLFetchScroll, s, (SQLHSTMT s, SQLSMALLINT o, SQLLEN n), s, o, n)
FORWARD(LIVE, SQLExtendedFetch, s,
	(SQLHSTMT s, SQLUSMALLINT o, SQLLEN n, SQLULEN *r, SQLUSMALLINT *st), s, o, n, r, st)
FORWARD(SITE_GETDATA, SQLGetData, s,
	(SQLHSTMT s, SQLUSMALLINT c, SQLSMALLINT t, SQLPOINTER v, SQLLEN l, SQLLEN *i),
	s, c, t, v, l, i)
FORWARD(LIVE, SQLSetPos, s, (SQLHSTMT s, SQLSETPOSIROW r, SQLUSMALLINT o, SQLUSMALLINT k),
	s, r, o, k)
FORWARD(LIVE, SQLMoreResults, s, (SQLHSTMT s), s)
FORWARD(PASS, SQLNumResultCols, s, (SQLHSTMT s, SQLSMALLINT *n), s, n)
FORWARD(PASS, SQLRowCount, s, (SQLHSTMT s, SQLLEN *n), s, n)
FORWARD(PASS, SQLBindCol, s,
	(SQLHSTMT s, SQLUSMALLINT c, SQLSMALLINT t, SQLPOINTER v, SQLLEN l, SQLLEN *i),
	s, c, t, v, l, i)
FORWARD(PASS, SQLBindParameter, s,
	(SQLHSTMT s, SQLUSMALLINT p, SQLSMALLINT io, SQLSMALLINT ct, SQLSMALLINT st, SQLULEN sz,
	 SQLSMALLINT d, SQLPOINTER v, SQLLEN l, SQLLEN *i),
	s, p, io, ct, st, sz, d, v, l, i)
FORWARD(PASS, SQLNumParams, s, (SQLHSTMT s, SQLSMALLINT *n), s, n)
FORWARD(PASS, SQLDescribeParam, s,
	(SQLHSTMT s, SQLUSMALLINT p, SQLSMALLINT *t, SQLULEN *sz, SQLSMALLINT *d,
	 SQLSMALLINT *n),
	s, p, t, sz, d, n)
FORWARD(PASS, SQLCloseCursor, s, (SQLHSTMT s), s)
FORWARD(PASS, SQLCancel, s, (SQLHSTMT s), s)
FORWARD(LIVE, SQLParamData, s, (SQLHSTMT s, SQLPOINTER *v), s, v)
FORWARD(LIVE, SQLPutData, s, (SQLHSTMT s, SQLPOINTER v, SQLLEN l), s, v, l)

/* ---- entry points with their own work --------------------------------------------- */

EXPORT SQLRETURN SQL_API SQLAllocHandle(SQLSMALLINT type, SQLHANDLE in, SQLHANDLE *out)
{
	SQLRETURN rc = enter(type == SQL_HANDLE_STMT ? LIVE : PASS, in, "SQLAllocHandle");

	if (rc != SQL_SUCCESS)
		return rc;
	rc = CALL(SQLAllocHandle, type, in, out);
	if (SQL_SUCCEEDED(rc))
		handle_add(type, in, *out);
	return rc;
}

EXPORT SQLRETURN SQL_API SQLFreeHandle(SQLSMALLINT type, SQLHANDLE h)
{
	SQLRETURN rc;

	pthread_once(&target_once, target_load);
	rc = CALL(SQLFreeHandle, type, h);
	if (SQL_SUCCEEDED(rc))
		handle_remove(h);
	return rc;
}

/* A broken link ends the server's transaction: on a dead connection, roll the real one
 * back before disconnecting, as the server would. */
EXPORT SQLRETURN SQL_API SQLDisconnect(SQLHDBC c)
{
	struct handle *e;
	int dead;

	pthread_once(&target_once, target_load);
	pthread_mutex_lock(&lock);
	e = handle_find(c);
	dead = e && e->dead;
	if (e) {
		e->state[0] = 0;
		e->dead = 0;
	}
	pthread_mutex_unlock(&lock);
	if (dead)
		CALL(SQLEndTran, SQL_HANDLE_DBC, c, SQL_ROLLBACK);
	return CALL(SQLDisconnect, c);
}

/* Remembers a statement's query timeout, which bounds a stall as a real driver would. */
static void note_stmt_attr(SQLHSTMT s, SQLINTEGER attr, SQLPOINTER value)
{
	struct handle *e;

	if (attr != SQL_ATTR_QUERY_TIMEOUT)
		return;
	pthread_mutex_lock(&lock);
	if ((e = handle_find(s)))
		e->query_timeout = (long)(uintptr_t)value;
	pthread_mutex_unlock(&lock);
}

#define F_SETSTMTATTR(name, T) \
	EXPORT SQLRETURN SQL_API name(SQLHSTMT s, SQLINTEGER a, SQLPOINTER v, SQLINTEGER l) \
	{ \
		SQLRETURN rc = enter(PASS, s, #name); \
		if (rc == SQL_SUCCESS && SQL_SUCCEEDED(rc = CALL(name, s, a, v, l))) \
			note_stmt_attr(s, a, v); \
		return rc; \
	}
ANSI_AND_WIDE(F_SETSTMTATTR, SQLSetStmtAttr)

/* SQL_ATTR_CONNECTION_DEAD answers true after an injected 08S01. */
static int answer_dead(SQLHDBC c, SQLINTEGER attr, SQLPOINTER value)
{
	struct handle *e;
	int dead;

	if (attr != SQL_ATTR_CONNECTION_DEAD || !value)
		return 0;
	pthread_mutex_lock(&lock);
	e = handle_find(c);
	dead = e && e->dead;
	pthread_mutex_unlock(&lock);
	if (dead)
		*(SQLUINTEGER *)value = SQL_CD_TRUE;
	return dead;
}

#define F_GETCONNECTATTR(name, T) \
	EXPORT SQLRETURN SQL_API name(SQLHDBC c, SQLINTEGER a, SQLPOINTER v, SQLINTEGER l, \
				      SQLINTEGER *o) \
	{ \
		SQLRETURN rc = enter(PASS, c, #name); \
		if (rc != SQL_SUCCESS || answer_dead(c, a, v)) \
			return rc; \
		return CALL(name, c, a, v, l, o); \
	}
ANSI_AND_WIDE(F_GETCONNECTATTR, SQLGetConnectAttr)

/* ---- diagnostics of an injected fault ----------------------------------------------- */

/* Copies the pending injected diagnostic of `h` into `state`/`message`; 0 if none. */
static int pending(SQLHANDLE h, char state[6], char *message, size_t size)
{
	struct handle *e;
	int found = 0;

	pthread_mutex_lock(&lock);
	if ((e = handle_find(h)) && e->state[0]) {
		memcpy(state, e->state, 6);
		snprintf(message, size, "%s", e->message);
		found = 1;
	}
	pthread_mutex_unlock(&lock);
	return found;
}

/* Writes `text` as `width`-byte characters (1: SQLCHAR, 2: SQLWCHAR) into `buf` of
 * `size` bytes, truncated and NUL-terminated; `*len` gets its full length in bytes. */
static SQLRETURN put_text(const char *text, int width, void *buf, SQLSMALLINT size,
			  SQLSMALLINT *len)
{
	SQLSMALLINT n = (SQLSMALLINT)strlen(text), room = size / width;

	if (len)
		*len = (SQLSMALLINT)(n * width);
	if (!buf || room <= 0)
		return n ? SQL_SUCCESS_WITH_INFO : SQL_SUCCESS;
	for (SQLSMALLINT i = 0; i <= n && i < room; i++) {
		SQLSMALLINT ch = (SQLSMALLINT)(i == n || i == room - 1 ? 0 : text[i]);
		if (width == 1)
			((SQLCHAR *)buf)[i] = (SQLCHAR)ch;
		else
			((SQLWCHAR *)buf)[i] = (SQLWCHAR)ch;
	}
	return n < room ? SQL_SUCCESS : SQL_SUCCESS_WITH_INFO;
}

/* SQLGetDiagRec(W) for a handle with a pending injected fault: one record. */
static SQLRETURN diag_rec(SQLHANDLE h, SQLSMALLINT rec, int width, void *state,
			  SQLINTEGER *native, void *text, SQLSMALLINT size, SQLSMALLINT *len,
			  int *handled)
{
	char st[6], msg[160];

	if (!(*handled = pending(h, st, msg, sizeof(msg))))
		return SQL_SUCCESS;
	if (rec != 1)
		return SQL_NO_DATA;
	if (native)
		*native = 0;
	if (state)
		put_text(st, width, state, (SQLSMALLINT)(6 * width), NULL);
	return put_text(msg, width, text, size, len);
}

/* SQLGetDiagField(W) for a handle with a pending injected fault. `size` is in bytes for
 * both widths, as ODBC has it for this function. */
static SQLRETURN diag_field(SQLHANDLE h, SQLSMALLINT rec, SQLSMALLINT field, int width,
			    SQLPOINTER value, SQLSMALLINT size, SQLSMALLINT *len, int *handled)
{
	char st[6], msg[160];
	SQLRETURN rc;

	if (!(*handled = pending(h, st, msg, sizeof(msg))))
		return SQL_SUCCESS;
	switch (field) {
	case SQL_DIAG_NUMBER:
		*(SQLINTEGER *)value = 1;
		return SQL_SUCCESS;
	case SQL_DIAG_RETURNCODE:
		*(SQLRETURN *)value = SQL_ERROR;
		return SQL_SUCCESS;
	case SQL_DIAG_CURSOR_ROW_COUNT:
	case SQL_DIAG_ROW_COUNT:
		*(SQLLEN *)value = 0;
		return SQL_SUCCESS;
	}
	if (rec != 1)
		return SQL_NO_DATA;
	switch (field) {
	case SQL_DIAG_SQLSTATE:
		rc = put_text(st, width, value, size, len);
		break;
	case SQL_DIAG_MESSAGE_TEXT:
		rc = put_text(msg, width, value, size, len);
		break;
	case SQL_DIAG_CLASS_ORIGIN:
	case SQL_DIAG_SUBCLASS_ORIGIN:
		rc = put_text("ISO 9075", width, value, size, len);
		break;
	case SQL_DIAG_CONNECTION_NAME:
	case SQL_DIAG_SERVER_NAME:
		rc = put_text("", width, value, size, len);
		break;
	case SQL_DIAG_NATIVE:
		*(SQLINTEGER *)value = 0;
		return SQL_SUCCESS;
	case SQL_DIAG_ROW_NUMBER:
		*(SQLLEN *)value = SQL_NO_ROW_NUMBER;
		return SQL_SUCCESS;
	case SQL_DIAG_COLUMN_NUMBER:
		*(SQLINTEGER *)value = SQL_NO_COLUMN_NUMBER;
		return SQL_SUCCESS;
	default:
		return SQL_ERROR;
	}
	return rc;
}

/* SQLGetDiagRec(W) and SQLGetDiagField(W): the injected record, else the target's.
 * Buffer lengths are in characters for the record, in bytes for the field. */
#define F_GETDIAGREC(name, T) \
	EXPORT SQLRETURN SQL_API name(SQLSMALLINT t, SQLHANDLE h, SQLSMALLINT r, T *st, \
				      SQLINTEGER *n, T *m, SQLSMALLINT l, SQLSMALLINT *o) \
	{ \
		int handled; \
		SQLRETURN rc = diag_rec(h, r, sizeof(T), st, n, m, \
					(SQLSMALLINT)(l * (SQLSMALLINT)sizeof(T)), o, &handled); \
		if (handled && o) \
			*o = (SQLSMALLINT)(*o / (SQLSMALLINT)sizeof(T)); \
		return handled ? rc : CALL(name, t, h, r, st, n, m, l, o); \
	}
#define F_GETDIAGFIELD(name, T) \
	EXPORT SQLRETURN SQL_API name(SQLSMALLINT t, SQLHANDLE h, SQLSMALLINT r, SQLSMALLINT f, \
				      SQLPOINTER v, SQLSMALLINT l, SQLSMALLINT *o) \
	{ \
		int handled; \
		SQLRETURN rc = diag_field(h, r, f, sizeof(T), v, l, o, &handled); \
		return handled ? rc : CALL(name, t, h, r, f, v, l, o); \
	}

ANSI_AND_WIDE(F_GETDIAGREC, SQLGetDiagRec)
ANSI_AND_WIDE(F_GETDIAGFIELD, SQLGetDiagField)

#ifndef FAULTDRV_WIDE
/* ODBC 2: returns the pending injected record once (SQLError consumes what it returns). */
EXPORT SQLRETURN SQL_API SQLError(SQLHENV e, SQLHDBC c, SQLHSTMT s, SQLCHAR *st, SQLINTEGER *n,
				  SQLCHAR *m, SQLSMALLINT l, SQLSMALLINT *o)
{
	SQLHANDLE h = s ? s : c ? c : e;
	struct handle *entry;
	int handled;
	SQLRETURN rc = diag_rec(h, 1, 1, st, n, m, l, o, &handled);

	if (!handled)
		return CALL(SQLError, e, c, s, st, n, m, l, o);
	pthread_mutex_lock(&lock);
	if ((entry = handle_find(h)))
		entry->state[0] = 0;
	pthread_mutex_unlock(&lock);
	return rc;
}
#endif
