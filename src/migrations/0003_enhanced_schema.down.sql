-- ztoq-migration: 3 enhanced_schema 3da7f9236c51
-- Drops migration_checkpoints, migration_performance_stats and the three date indexes.

DROP INDEX idx_checkpoint_project_phase;
DROP INDEX idx_checkpoint_id_unique;
DROP INDEX ix_migration_checkpoints_project_key;
DROP TABLE migration_checkpoints;

DROP INDEX idx_perf_stats_operation;
DROP INDEX idx_perf_stats_project_phase;
DROP INDEX ix_migration_performance_stats_timestamp;
DROP INDEX ix_migration_performance_stats_project_key;
DROP TABLE migration_performance_stats;

DROP INDEX idx_test_execution_executed_on;
DROP INDEX idx_test_case_updated_on;
DROP INDEX idx_test_case_created_on;
