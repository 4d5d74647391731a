-- ztoq-migration: 1 initial_schema a16c4721be8a
-- ztoq-dialect: sqlite
-- Drops the indexes and tables of the initial schema in reverse creation order.
-- ztoq-dialect: postgresql
-- Drops the indexes and tables of the initial schema in reverse creation order,
-- then the entitytype type, which the original Alembic downgrade left behind.
-- ztoq-dialect: end

DROP INDEX idx_step_test_execution;
DROP INDEX idx_step_test_case;
DROP INDEX idx_step_index;
DROP TABLE test_steps;

DROP INDEX idx_test_execution_status;
DROP INDEX idx_test_execution_project;
DROP INDEX idx_test_execution_environment;
DROP INDEX idx_test_execution_cycle;
DROP INDEX idx_test_execution_case;
DROP TABLE test_executions;

DROP INDEX idx_script_test_case;
DROP TABLE script_files;

DROP INDEX idx_case_version;
DROP TABLE case_version_association;

DROP INDEX idx_case_label;
DROP TABLE case_label_association;

DROP INDEX ix_test_plans_key;
DROP INDEX idx_test_plan_status;
DROP INDEX idx_test_plan_project;
DROP INDEX idx_test_plan_folder;
DROP TABLE test_plans;

DROP INDEX ix_test_cycles_key;
DROP INDEX idx_test_cycle_status;
DROP INDEX idx_test_cycle_project;
DROP INDEX idx_test_cycle_folder;
DROP TABLE test_cycles;

DROP INDEX ix_test_cases_key;
DROP INDEX idx_test_case_status;
DROP INDEX idx_test_case_project;
DROP INDEX idx_test_case_priority;
DROP INDEX idx_test_case_folder;
DROP TABLE test_cases;

DROP INDEX idx_custom_field_value_field;
DROP INDEX idx_custom_field_value_entity;
DROP TABLE custom_field_values;

DROP INDEX idx_status_type;
DROP INDEX idx_status_project;
DROP TABLE statuses;

DROP INDEX idx_priority_rank;
DROP INDEX idx_priority_project;
DROP TABLE priorities;

DROP INDEX idx_folder_project;
DROP INDEX idx_folder_parent;
DROP TABLE folders;

DROP INDEX idx_environment_project;
DROP TABLE environments;

DROP INDEX idx_custom_field_project;
DROP TABLE custom_field_definitions;

DROP INDEX ix_projects_key;
DROP TABLE projects;

DROP INDEX ix_migration_state_project_key;
DROP TABLE migration_state;

DROP INDEX idx_link_entity;
DROP TABLE links;

DROP INDEX ix_labels_name;
DROP TABLE labels;

DROP INDEX ix_entity_batch_state_project_key;
DROP INDEX idx_entity_batch_status;
DROP INDEX idx_entity_batch_project;
DROP TABLE entity_batch_state;

DROP TABLE case_versions;

DROP INDEX idx_attachment_entity;
DROP TABLE attachments;
-- ztoq-dialect: postgresql

DROP TYPE entitytype;
-- ztoq-dialect: end
