/*
 * test_connstr.c - configurations in, exact connection strings out; quoting, refusal
 * and redaction.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "support.h"

TestSuite(connstr, .timeout = 30);

struct build_case {
	const char *settings[12]; /* key, value pairs, NULL-terminated */
	const char *expected;     /* NULL: must be refused */
	const char *error;        /* words the refusal must contain */
};

/* The libpq options every PostgreSQL connection string carries (issue 8). */
#define KEEPALIVE_OPTS \
	"keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3 " \
	"tcp_user_timeout=60000"
#define KEEPALIVES "pqopt={" KEEPALIVE_OPTS "}"

static const struct build_case cases[] = {
	{{"db_path", "/data/ztoq.db", NULL},
	 "Driver={SQLite3};Database=/data/ztoq.db;Timeout=2500;FKSupport=1;StepAPI=1;JournalMode=WAL", NULL},
	{{"db_path", "rel dir/a=b{c}.db", "busy_timeout_ms", "250", NULL},
	 "Driver={SQLite3};Database=rel dir/a=b{c}.db;Timeout=125;FKSupport=1;StepAPI=1;JournalMode=WAL", NULL},
	{{"db_path", ":memory:", NULL},
	 "Driver={SQLite3};Database=:memory:;Timeout=2500;FKSupport=1;StepAPI=1", NULL},
	{{"db_path", "/tmp/x;Timeout=1", NULL}, NULL, "cannot quote a ';'"},
	{{"db_path", "{evil}", NULL}, NULL, "leading '{'"},
	{{"sqlite_driver", "My SQLite", "db_path", "a.db", NULL},
	 "Driver={My SQLite};Database=a.db;Timeout=2500;FKSupport=1;StepAPI=1;JournalMode=WAL", NULL},
	{{"db_type", "postgresql", "host", "db.example", "port", "5433", "username", "ztoq",
	  "password", "s3cret", NULL},
	 "Driver={PostgreSQL Unicode};Server=db.example;Port=5433;Database=ztoq;Protocol=7.4-0;" KEEPALIVES ";"
	 "Uid=ztoq;Pwd={s3cret}", NULL},
	{{"db_type", "postgresql", "password", "x;Driver=evil", "database", "a}b{c", NULL},
	 "Driver={PostgreSQL Unicode};Server=localhost;Port=5432;Database=a}b{c;Protocol=7.4-0;" KEEPALIVES ";"
	 "Pwd={x;Driver=evil}", NULL},
	{{"db_type", "postgresql", "database", "semi;colon", NULL}, NULL,
	 "database \"semi;colon\" cannot be passed to the PostgreSQL ODBC driver"},
	{{"db_type", "postgresql", "host", "{h}", NULL}, NULL, "host \"{h}\" cannot be passed"},
	{{"db_type", "postgresql", "username", "u;Pwd=x", NULL}, NULL, "username \"u;Pwd=x\""},
	/* the driver's Timeout=0 waits 1000 s: no wait is the shortest one it has */
	{{"db_path", "a.db", "busy_timeout_ms", "0", NULL},
	 "Driver={SQLite3};Database=a.db;Timeout=1;FKSupport=1;StepAPI=1;JournalMode=WAL", NULL},
	{{"db_path", "a.db", "busy_timeout_ms", "1001", "create_if_missing", "0", NULL},
	 "Driver={SQLite3};Database=a.db;Timeout=501;FKSupport=1;NoCreat=1;StepAPI=1;"
	 "JournalMode=WAL", NULL},
	{{"db_type", "postgresql", "password", "}", "driver", "PostgreSQL ANSI", NULL},
	 "Driver={PostgreSQL ANSI};Server=localhost;Port=5432;Database=ztoq;Protocol=7.4-0;" KEEPALIVES ";Pwd={}}}", NULL},
	{{"db_type", "postgresql", "statement_timeout_ms", "1500", NULL},
	 "Driver={PostgreSQL Unicode};Server=localhost;Port=5432;Database=ztoq;Protocol=7.4-0;"
	 "pqopt={" KEEPALIVE_OPTS " options='-c statement_timeout=1500'}", NULL},
	{{"dsn", "ztoq_pg", "username", "u", "password", "p", NULL}, "DSN=ztoq_pg;Uid=u;Pwd={p}", NULL},
	{{"db_type", "odbc", "dsn", "Driver={Other};Host=h", NULL}, "Driver={Other};Host=h", NULL},
	{{"db_type", "odbc", "dsn", "OtherDSN", NULL}, "DSN=OtherDSN", NULL},
	/* issue 10: TLS goes to SSLmode, the CA file into the one pqopt, quoted for libpq */
	{{"db_type", "postgresql", "sslmode", "verify-full", "sslrootcert", "/a b/c'd\\}.crt", NULL},
	 "Driver={PostgreSQL Unicode};Server=localhost;Port=5432;Database=ztoq;Protocol=7.4-0;"
	 "pqopt={" KEEPALIVE_OPTS " sslrootcert='/a b/c\\'d\\\\}}.crt'};SSLmode=verify-full", NULL},
	/* odbc_options: each attribute re-emitted escaped, after the library's own */
	{{"db_path", "a.db", "odbc_options", " LongNames = 1;;ShortNames={x;y}}z} ;", NULL},
	 "Driver={SQLite3};Database=a.db;Timeout=2500;FKSupport=1;StepAPI=1;JournalMode=WAL;"
	 "LongNames=1;ShortNames={x;y}}z}", NULL},
	{{"dsn", "ztoq_pg", "odbc_options", "ReadOnly=1", "password", "p", NULL},
	 "DSN=ztoq_pg;ReadOnly=1;Pwd={p}", NULL},
	{{"db_type", "postgresql", "odbc_options", "pqopt={sslmode=require}", NULL},
	 "Driver={PostgreSQL Unicode};Server=localhost;Port=5432;Database=ztoq;Protocol=7.4-0;"
	 "pqopt={sslmode=require}", NULL},
	{{"db_type", "postgresql", "odbc_options", "ReadOnly=1;a1=7.4-1", NULL}, NULL,
	 "odbc_options sets Protocol=7.4-1, but libztoq relies on Protocol=7.4-0"},
	{{"db_path", "a.db", "odbc_options", "stepapi =0", NULL}, NULL,
	 "odbc_options sets StepAPI=0, but libztoq relies on StepAPI=1"},
	{{"db_type", "postgresql", "odbc_options", "Pwd=s3cret", NULL}, NULL,
	 "odbc_options sets the password attribute Pwd: use password or password_file"},
	{{"db_path", "a.db", "odbc_options", "LongNames", NULL}, NULL,
	 "odbc_options: an attribute without '='"},
	{{"db_type", "postgresql", "sslmode", "verify-full", "odbc_options", "ca=require", NULL},
	 NULL, "odbc_options sets SSLmode=require, but libztoq relies on SSLmode=verify-full"},
};

Test(connstr, table_of_configurations_to_exact_strings)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct build_case *c = &cases[i];
		ztoq_config *cfg;
		char *out = NULL;
		int rc;

		cr_assert_eq(ztoq_config_new(&cfg), 0);
		for (int k = 0; c->settings[k]; k += 2)
			test_ok(ztoq_config_set(cfg, c->settings[k], c->settings[k + 1]));
		rc = ztoq_connstr_build(&out, cfg);
		if (c->expected) {
			cr_expect_eq(rc, 0, "case %zu: %s", i, ztoq_error_last()->message);
			cr_expect_str_eq(out ? out : "(null)", c->expected, "case %zu", i);
		} else {
			cr_expect_eq(rc, ZTOQ_EINVALID, "case %zu must be refused", i);
			cr_expect_null(out);
			cr_expect(strstr(ztoq_error_last()->message, c->error), "case %zu: \"%s\"", i,
				  ztoq_error_last()->message);
		}
		ztoq_free(out);
		ztoq_config_free(cfg);
	}
}

/* A 10 KiB path the driver cannot take: the refusal's reason survives the value. */
Test(connstr, long_refused_value_keeps_the_reason)
{
	static char path[10240 + 1];
	ztoq_config *cfg;
	char *out = NULL;

	memset(path, 'p', 10240);
	path[5000] = ';';
	cr_assert_eq(ztoq_config_new(&cfg), 0);
	test_ok(ztoq_config_set(cfg, "db_path", path));
	cr_assert_eq(ztoq_connstr_build(&out, cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "...\" cannot be passed to the SQLite ODBC "
						    "driver, which cannot quote a ';'"),
		  "%s", ztoq_error_last()->message);
	ztoq_config_free(cfg);
}

/* A bad sslmode is refused at set, from every source, naming the allowed values. */
Test(connstr, bad_sslmode_is_refused_at_set)
{
	ztoq_config *cfg;
	char *argv[] = {"ztoq", "--sslmode=verify_full", NULL};
	int argc = 2;

	cr_assert_eq(ztoq_config_new(&cfg), 0);
	cr_assert_eq(ztoq_config_set(cfg, "sslmode", "Require"), ZTOQ_EINVALID);
	cr_assert_str_eq(ztoq_error_last()->message,
			 "value \"sslmode\": unsupported value \"Require\" (expected disable, "
			 "allow, prefer, require, verify-ca, verify-full)");
	cr_assert_eq(ztoq_config_parse_args(cfg, &argc, argv), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "option --sslmode: unsupported value "
						    "\"verify_full\""));
	test_ok(ztoq_config_set(cfg, "sslmode", "verify-ca"));
	cr_assert_str_eq(ztoq_config_get(cfg, "sslmode"), "verify-ca");
	{ /* the longest CA path fits in pqopt; a longer one is refused, not cut */
		char path[1002];

		memset(path, '\'', sizeof(path) - 1);
		path[1000] = '\0';
		char *out, *q;
		int escaped = 0;

		test_ok(ztoq_config_set(cfg, "sslrootcert", path));
		test_ok(ztoq_config_set(cfg, "db_type", "postgresql"));
		test_ok(ztoq_config_set(cfg, "statement_timeout_ms", "2147483647"));
		test_ok(ztoq_connstr_build(&out, cfg));
		for (q = out; (q = strstr(q, "\\'")); q += 2)
			escaped++;
		cr_assert_eq(escaped, 1000, "the whole path, escaped: %s", out);
		cr_assert(strstr(out, "\\''};SSLmode=verify-ca"), "%s", out);
		ztoq_free(out);
		path[1000] = 'x';
		path[1001] = '\0';
		cr_assert_eq(ztoq_config_set(cfg, "sslrootcert", path), ZTOQ_EINVALID);
		cr_assert_str_eq(ztoq_error_last()->message,
				 "value \"sslrootcert\": the value is longer than 1000 bytes");
	}
	ztoq_config_free(cfg);
}

Test(connstr, password_file_first_line)
{
	const char *path = test_path("pw");
	FILE *f = fopen(path, "w");
	ztoq_config *cfg;
	char *out;

	cr_assert_not_null(f);
	fputs("fi;le}pw\nsecond line\n", f);
	fclose(f);
	cr_assert_eq(ztoq_config_new(&cfg), 0);
	test_ok(ztoq_config_set(cfg, "db_type", "postgresql"));
	test_ok(ztoq_config_set(cfg, "password_file", path));
	test_ok(ztoq_connstr_build(&out, cfg));
	cr_assert(strstr(out, ";Pwd={fi;le}}pw}"), "%s", out);
	ztoq_free(out);
	test_ok(ztoq_config_set(cfg, "password_file", "/nonexistent/pw"));
	cr_assert_eq(ztoq_connstr_build(&out, cfg), ZTOQ_EINVALID);
	cr_assert(strstr(ztoq_error_last()->message, "cannot open /nonexistent/pw"));
	ztoq_config_free(cfg);
}

Test(connstr, redaction_hides_every_password_form)
{
	static const char *const in[][2] = {
		{"Driver={PostgreSQL Unicode};Uid={u};Pwd={p;w{d}}=x y}}}", "Driver={PostgreSQL Unicode};Uid={u};Pwd=***"},
		{"DSN=x;PWD=plain;Server=h", "DSN=x;PWD=***;Server=h"},
		{"password = {a}}b};Port=1", "password =***;Port=1"},
		{"Driver=x;\tPwd=tab;\nPassword=nl;\r\n pWd \t= {br;ace};Port=1",
		 "Driver=x;\tPwd=***;\nPassword=***;\r\n pWd \t=***;Port=1"},
		{"Driver={PostgreSQL Unicode};pqopt={password=s3cret sslmode=disable};Port=1",
		 "Driver={PostgreSQL Unicode};pqopt=***;Port=1"},
		{"PQOPT=password=s3cret;D5={password='x;y'};ConnSettings={SET a='s'};A6=z",
		 "PQOPT=***;D5=***;ConnSettings=***;A6=***"},
		{"Driver=x;AccessToken=abc;ClientSecret={s;t};KeyStorePassword=k;SSLPassword=p;"
		 " sslkey =/a/b;auth_token=t;Port=1",
		 "Driver=x;AccessToken=***;ClientSecret=***;KeyStorePassword=***;SSLPassword=***;"
		 " sslkey =***;auth_token=***;Port=1"},
		{"Driver=x", "Driver=x"},
		{"", ""},
	};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char *out;
		test_ok(ztoq_connstr_redact(&out, in[i][0]));
		cr_expect_str_eq(out, in[i][1], "case %zu", i);
		ztoq_free(out);
	}
}

/* The password of a caller's own string, which driver texts are scrubbed of. */
Test(connstr, password_of_a_connection_string)
{
	static const char *const in[][2] = {
		{"Driver=x;Pwd={a}}b;c};Port=1", "a}b;c"},
		{"Driver=x; PASSWORD = plain;Port=1", "plain"},
		{"Driver=x;SSLPassword=k;Pwd=p", "p"}, /* the login's, wherever it stands */
		{"Driver=x;SSLPassword=k;Port=1", "k"},
		{"Driver=x;pqopt={password=p};Port=1", NULL},
		{"Driver=x;Pwd=;Port=1", NULL},
		{"Driver=x;Pwd={}", NULL},
		{"Driver=x", NULL},
	};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char *out;

		test_ok(ztoq__connstr_password(&out, in[i][0]));
		if (in[i][1])
			cr_expect_str_eq(out, in[i][1], "case %zu", i);
		else
			cr_expect_null(out, "case %zu: %s", i, out);
		ztoq__free_secret(out);
	}
}
