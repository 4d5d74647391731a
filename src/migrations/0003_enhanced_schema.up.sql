-- ztoq-migration: 3 enhanced_schema 3da7f9236c51
-- Adds three date indexes, migration_performance_stats and migration_checkpoints
-- (Alembic revision 3da7f9236c51).
-- The ix_ indexes are the ones Alembic creates for the index=True columns.

CREATE INDEX idx_test_case_created_on ON test_cases (created_on);
CREATE INDEX idx_test_case_updated_on ON test_cases (updated_on);
CREATE INDEX idx_test_execution_executed_on ON test_executions (executed_on);

-- phase is one of extraction, transformation, loading
CREATE TABLE migration_performance_stats (
    id {{id_serial}} NOT NULL,
    project_key VARCHAR(50) NOT NULL,
    timestamp {{timestamp}} NOT NULL,
    phase VARCHAR(20) NOT NULL,
    operation VARCHAR(50) NOT NULL,
    entity_type VARCHAR(50),
    entity_count INTEGER,
    duration_ms INTEGER NOT NULL,
    success_count INTEGER,
    error_count INTEGER,
    batch_size INTEGER,
    cpu_percent FLOAT,
    memory_mb FLOAT,
    notes TEXT,
    meta_data {{json}},
    PRIMARY KEY (id)
);
CREATE INDEX ix_migration_performance_stats_project_key ON migration_performance_stats (project_key);
CREATE INDEX ix_migration_performance_stats_timestamp ON migration_performance_stats (timestamp);
CREATE INDEX idx_perf_stats_project_phase ON migration_performance_stats (project_key, phase);
CREATE INDEX idx_perf_stats_operation ON migration_performance_stats (operation);

-- status is one of active, completed, abandoned
CREATE TABLE migration_checkpoints (
    id {{id_serial}} NOT NULL,
    project_key VARCHAR(50) NOT NULL,
    checkpoint_id VARCHAR(50) NOT NULL,
    timestamp {{timestamp}} NOT NULL,
    phase VARCHAR(20) NOT NULL,
    entity_type VARCHAR(50),
    last_processed_id VARCHAR(50),
    processed_count INTEGER,
    total_count INTEGER,
    status VARCHAR(20) NOT NULL,
    checkpoint_data {{json}},
    PRIMARY KEY (id)
);
CREATE INDEX ix_migration_checkpoints_project_key ON migration_checkpoints (project_key);
CREATE UNIQUE INDEX idx_checkpoint_id_unique ON migration_checkpoints (checkpoint_id);
CREATE INDEX idx_checkpoint_project_phase ON migration_checkpoints (project_key, phase);
