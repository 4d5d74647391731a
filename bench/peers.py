"""The Python peer of the benchmark: SQLAlchemy Core and ORM over psycopg2 or sqlite3.

Run by bench/main.c with /usr/bin/python3 (Debian's python3-sqlalchemy and
python3-psycopg2) as: peers.py WORKLOAD BACKEND IMPL COUNT THREADS SQLITE_PATH.
Prints "rows seconds" for the timed part only; exits non-zero on failure.
PostgreSQL settings come from the ZTOQ_TEST_PG_* variables of the test fixture.
"""
import os
import sys
import threading
import time

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.pool import NullPool, QueuePool

TXN_TABLE_ROWS = 10000

metadata = sa.MetaData()
insert_table = sa.Table(
    "bench_insert", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("score", sa.Float(53)),
)
read_table = sa.Table(
    "bench_read", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("score", sa.Float(53)),
)
txn_table = sa.Table(
    "bench_txn", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("counter", sa.BigInteger),
)
Base = orm.declarative_base()


class Row(Base):
    """What ZTOQ's own code does: one mapped object per row."""
    __table__ = insert_table


def make_engine(backend, sqlite_path, threads, poolclass=QueuePool):
    if backend == "sqlite":
        return sa.create_engine("sqlite:///" + sqlite_path, poolclass=poolclass,
                                connect_args={"timeout": 100, "check_same_thread": False},
                                **({"pool_size": threads} if poolclass is QueuePool else {}))
    env = os.environ
    args = dict(host=env["ZTOQ_TEST_PG_HOST"], port=env["ZTOQ_TEST_PG_PORT"],
                dbname=env["ZTOQ_TEST_PG_DATABASE"], user=env["ZTOQ_TEST_PG_USER"],
                password=env["ZTOQ_TEST_PG_PASSWORD"])
    return sa.create_engine("postgresql+psycopg2://", connect_args=args, poolclass=poolclass,
                            **({"pool_size": threads} if poolclass is QueuePool else {}))


def rows_of(n):
    return [{"id": i, "name": "name-%d" % i, "score": i * 0.5} for i in range(n)]


def insert(engine, impl, n):
    insert_table.drop(engine, checkfirst=True)
    insert_table.create(engine)
    t0 = time.perf_counter()
    if impl == "sqlalchemy-core":
        with engine.begin() as conn:
            conn.execute(insert_table.insert(), rows_of(n))
    else:
        with orm.Session(engine) as session:
            session.add_all([Row(**r) for r in rows_of(n)])
            session.commit()
    return n, time.perf_counter() - t0


def read(engine, n):
    total, rows = 0.0, 0
    t0 = time.perf_counter()
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=1000).execute(
            sa.select(read_table.c.id, read_table.c.name, read_table.c.score))
        for part in result.partitions(1000):
            for row in part:
                total += row.score
            rows += len(part)
    elapsed = time.perf_counter() - t0
    if rows != n:
        raise SystemExit("read %d rows, expected %d" % (rows, n))
    return rows, elapsed


def read_update(engine, key):
    """The short transaction: read one row by key, update it (retried when busy)."""
    while True:
        try:
            with engine.begin() as conn:
                counter = conn.execute(sa.select(txn_table.c.counter)
                                       .where(txn_table.c.id == key)).scalar_one()
                conn.execute(txn_table.update().where(txn_table.c.id == key)
                             .values(counter=counter + 1))
            return
        except sa.exc.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise


def on_threads(threads, work):
    errors = []

    def run(t):
        try:
            work(t)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def txn(engine, count, threads):
    def work(t):
        for i in range(count):
            read_update(engine, (t * 7919 + i * 13) % TXN_TABLE_ROWS)
    return count * threads, on_threads(threads, work)


def pool_ops(engine, count, threads):
    held = [engine.pool.connect() for _ in range(threads)]  # all opened before the clock
    for c in held:
        c.close()

    def work(t):
        for _ in range(count):
            engine.pool.connect().close()
    return count * threads, on_threads(threads, work)


def connect(backend, sqlite_path, impl, count):
    engine = make_engine(backend, sqlite_path, 1,
                         NullPool if impl == "sqlalchemy-nullpool" else QueuePool)
    t0 = time.perf_counter()
    for i in range(count):
        read_update(engine, i % TXN_TABLE_ROWS)
    return count, time.perf_counter() - t0


def main():
    workload, backend, impl, count, threads, sqlite_path = sys.argv[1:7]
    count, threads = int(count), int(threads)
    if workload == "connect":
        rows, seconds = connect(backend, sqlite_path, impl, count)
    else:
        engine = make_engine(backend, sqlite_path, threads)
        if workload == "insert":
            rows, seconds = insert(engine, impl, count)
        elif workload == "read":
            rows, seconds = read(engine, count)
        elif workload == "txn":
            rows, seconds = txn(engine, count, threads)
        else:
            rows, seconds = pool_ops(engine, count, threads)
    print("%d %.9f" % (rows, seconds))


if __name__ == "__main__":
    main()
