-- ztoq-migration: 1 initial_schema a16c4721be8a
-- Initial schema: the 21 tables of Alembic revision a16c4721be8a, in creation order.
-- ztoq-dialect: sqlite
-- The entitytype enumeration is VARCHAR(14) with a CHECK on SQLite.
-- Integer keys are INTEGER PRIMARY KEY (rowid alias), as SQLAlchemy emits them.
-- ztoq-dialect: postgresql
-- The entitytype enumeration is a native PostgreSQL ENUM type, created first.
-- Integer keys are SERIAL, as SQLAlchemy emits them.

CREATE TYPE entitytype AS ENUM ('TEST_CASE', 'TEST_EXECUTION', 'TEST_STEP', 'TEST_CYCLE', 'TEST_PLAN', 'FOLDER');
-- ztoq-dialect: end

CREATE TABLE attachments (
    id VARCHAR(50) NOT NULL,
    filename VARCHAR(255) NOT NULL,
    content_type VARCHAR(100) NOT NULL,
    size INTEGER,
    created_on {{timestamp}},
    created_by VARCHAR(100),
    content {{blob}},
    content_url VARCHAR(2000),
    entity_type {{entitytype}} NOT NULL,
    entity_id VARCHAR(50) NOT NULL,
-- ztoq-dialect: sqlite
    PRIMARY KEY (id),
    CONSTRAINT entitytype CHECK (entity_type IN ('TEST_CASE', 'TEST_EXECUTION', 'TEST_STEP', 'TEST_CYCLE', 'TEST_PLAN', 'FOLDER'))
-- ztoq-dialect: postgresql
    PRIMARY KEY (id)
-- ztoq-dialect: end
);
CREATE INDEX idx_attachment_entity ON attachments (entity_type, entity_id);

CREATE TABLE case_versions (
    id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    description TEXT,
    status VARCHAR(50),
    created_at {{timestamp}} NOT NULL,
    created_by VARCHAR(100),
    PRIMARY KEY (id)
);

CREATE TABLE entity_batch_state (
    id {{id_serial}} NOT NULL,
    project_key VARCHAR(50) NOT NULL,
    entity_type VARCHAR(50) NOT NULL,
    batch_number INTEGER NOT NULL,
    total_batches INTEGER,
    items_count INTEGER,
    processed_count INTEGER,
    status VARCHAR(50),
    started_at {{timestamp}},
    completed_at {{timestamp}},
    last_updated {{timestamp}},
    error_message TEXT,
    PRIMARY KEY (id),
    CONSTRAINT uq_entity_batch UNIQUE (project_key, entity_type, batch_number)
);
CREATE INDEX idx_entity_batch_project ON entity_batch_state (project_key);
CREATE INDEX idx_entity_batch_status ON entity_batch_state (status);
CREATE INDEX ix_entity_batch_state_project_key ON entity_batch_state (project_key);

CREATE TABLE labels (
    id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_labels_name ON labels (name);

-- links.type is one of issue, web, testCycle
CREATE TABLE links (
    id VARCHAR(50) NOT NULL,
    name VARCHAR(255) NOT NULL,
    url VARCHAR(2000) NOT NULL,
    description TEXT,
    type VARCHAR(50) NOT NULL,
    entity_type {{entitytype}} NOT NULL,
    entity_id VARCHAR(50) NOT NULL,
-- ztoq-dialect: sqlite
    PRIMARY KEY (id),
    CONSTRAINT entitytype CHECK (entity_type IN ('TEST_CASE', 'TEST_EXECUTION', 'TEST_STEP', 'TEST_CYCLE', 'TEST_PLAN', 'FOLDER'))
-- ztoq-dialect: postgresql
    PRIMARY KEY (id)
-- ztoq-dialect: end
);
CREATE INDEX idx_link_entity ON links (entity_type, entity_id);

-- migration_state.meta_data holds a JSON document as text
CREATE TABLE migration_state (
    id {{id_serial}} NOT NULL,
    project_key VARCHAR(50),
    extraction_status VARCHAR(50),
    transformation_status VARCHAR(50),
    loading_status VARCHAR(50),
    last_updated {{timestamp}},
    error_message TEXT,
    meta_data TEXT,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_migration_state_project_key ON migration_state (project_key);

-- The foreign keys to projects.key rely on the unique index ix_projects_key
CREATE TABLE projects (
    id VARCHAR(50) NOT NULL,
    key VARCHAR(50) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_projects_key ON projects (key);

CREATE TABLE custom_field_definitions (
    id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    type VARCHAR(50) NOT NULL,
    project_key VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (project_key) REFERENCES projects (key) ON DELETE CASCADE
);
CREATE INDEX idx_custom_field_project ON custom_field_definitions (project_key);

CREATE TABLE environments (
    id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    description TEXT,
    project_key VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (project_key) REFERENCES projects (key) ON DELETE CASCADE
);
CREATE INDEX idx_environment_project ON environments (project_key);

-- folders.folder_type is one of TEST_CASE, TEST_CYCLE, TEST_PLAN
CREATE TABLE folders (
    id VARCHAR(50) NOT NULL,
    name VARCHAR(255) NOT NULL,
    folder_type VARCHAR(50) NOT NULL,
    parent_id VARCHAR(50),
    project_key VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (parent_id) REFERENCES folders (id) ON DELETE SET NULL,
    FOREIGN KEY (project_key) REFERENCES projects (key) ON DELETE CASCADE
);
CREATE INDEX idx_folder_parent ON folders (parent_id);
CREATE INDEX idx_folder_project ON folders (project_key);

CREATE TABLE priorities (
    id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    description TEXT,
    color VARCHAR(20),
    rank INTEGER NOT NULL,
    project_key VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (project_key) REFERENCES projects (key) ON DELETE CASCADE
);
CREATE INDEX idx_priority_project ON priorities (project_key);
CREATE INDEX idx_priority_rank ON priorities (rank);

-- statuses.type is one of TEST_CASE, TEST_CYCLE, TEST_EXECUTION
CREATE TABLE statuses (
    id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    description TEXT,
    color VARCHAR(20),
    type VARCHAR(50) NOT NULL,
    project_key VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (project_key) REFERENCES projects (key) ON DELETE CASCADE
);
CREATE INDEX idx_status_project ON statuses (project_key);
CREATE INDEX idx_status_type ON statuses (type);

CREATE TABLE custom_field_values (
    id VARCHAR(50) NOT NULL,
    field_id VARCHAR(50) NOT NULL,
    entity_type {{entitytype}} NOT NULL,
    entity_id VARCHAR(50) NOT NULL,
    value_text TEXT,
    value_numeric FLOAT,
    value_boolean BOOLEAN,
    value_date {{timestamp}},
    value_json TEXT,
    PRIMARY KEY (id),
-- ztoq-dialect: sqlite
    FOREIGN KEY (field_id) REFERENCES custom_field_definitions (id) ON DELETE CASCADE,
    CONSTRAINT entitytype CHECK (entity_type IN ('TEST_CASE', 'TEST_EXECUTION', 'TEST_STEP', 'TEST_CYCLE', 'TEST_PLAN', 'FOLDER'))
-- ztoq-dialect: postgresql
    FOREIGN KEY (field_id) REFERENCES custom_field_definitions (id) ON DELETE CASCADE
-- ztoq-dialect: end
);
CREATE INDEX idx_custom_field_value_entity ON custom_field_values (entity_type, entity_id);
CREATE INDEX idx_custom_field_value_field ON custom_field_values (field_id);

CREATE TABLE test_cases (
    id VARCHAR(50) NOT NULL,
    key VARCHAR(50) NOT NULL,
    name VARCHAR(255) NOT NULL,
    objective TEXT,
    precondition TEXT,
    description TEXT,
    status VARCHAR(50),
    priority_id VARCHAR(50),
    priority_name VARCHAR(100),
    folder_id VARCHAR(50),
    folder_name VARCHAR(255),
    owner VARCHAR(100),
    owner_name VARCHAR(255),
    component VARCHAR(100),
    component_name VARCHAR(255),
    created_on {{timestamp}},
    created_by VARCHAR(100),
    updated_on {{timestamp}},
    updated_by VARCHAR(100),
    version VARCHAR(50),
    estimated_time INTEGER,
    project_key VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (priority_id) REFERENCES priorities (id) ON DELETE SET NULL,
    FOREIGN KEY (folder_id) REFERENCES folders (id) ON DELETE SET NULL,
    FOREIGN KEY (project_key) REFERENCES projects (key) ON DELETE CASCADE
);
CREATE INDEX idx_test_case_folder ON test_cases (folder_id);
CREATE INDEX idx_test_case_priority ON test_cases (priority_id);
CREATE INDEX idx_test_case_project ON test_cases (project_key);
CREATE INDEX idx_test_case_status ON test_cases (status);
CREATE UNIQUE INDEX ix_test_cases_key ON test_cases (key);

CREATE TABLE test_cycles (
    id VARCHAR(50) NOT NULL,
    key VARCHAR(50) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    status VARCHAR(50),
    status_name VARCHAR(100),
    folder_id VARCHAR(50),
    folder_name VARCHAR(255),
    owner VARCHAR(100),
    owner_name VARCHAR(255),
    created_on {{timestamp}},
    created_by VARCHAR(100),
    updated_on {{timestamp}},
    updated_by VARCHAR(100),
    planned_start_date {{timestamp}},
    planned_end_date {{timestamp}},
    project_key VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (folder_id) REFERENCES folders (id) ON DELETE SET NULL,
    FOREIGN KEY (project_key) REFERENCES projects (key) ON DELETE CASCADE
);
CREATE INDEX idx_test_cycle_folder ON test_cycles (folder_id);
CREATE INDEX idx_test_cycle_project ON test_cycles (project_key);
CREATE INDEX idx_test_cycle_status ON test_cycles (status);
CREATE UNIQUE INDEX ix_test_cycles_key ON test_cycles (key);

CREATE TABLE test_plans (
    id VARCHAR(50) NOT NULL,
    key VARCHAR(50) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    status VARCHAR(50),
    status_name VARCHAR(100),
    folder_id VARCHAR(50),
    folder_name VARCHAR(255),
    owner VARCHAR(100),
    owner_name VARCHAR(255),
    created_on {{timestamp}},
    created_by VARCHAR(100),
    updated_on {{timestamp}},
    updated_by VARCHAR(100),
    project_key VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (folder_id) REFERENCES folders (id) ON DELETE SET NULL,
    FOREIGN KEY (project_key) REFERENCES projects (key) ON DELETE CASCADE
);
CREATE INDEX idx_test_plan_folder ON test_plans (folder_id);
CREATE INDEX idx_test_plan_project ON test_plans (project_key);
CREATE INDEX idx_test_plan_status ON test_plans (status);
CREATE UNIQUE INDEX ix_test_plans_key ON test_plans (key);

-- No primary key here: revision 0004 adds one
CREATE TABLE case_label_association (
    test_case_id VARCHAR(50),
    label_id VARCHAR(50),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE,
    FOREIGN KEY (label_id) REFERENCES labels (id) ON DELETE CASCADE
);
CREATE INDEX idx_case_label ON case_label_association (test_case_id, label_id);

-- No primary key here: revision 0004 adds one
CREATE TABLE case_version_association (
    test_case_id VARCHAR(50),
    version_id VARCHAR(50),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE,
    FOREIGN KEY (version_id) REFERENCES case_versions (id) ON DELETE CASCADE
);
CREATE INDEX idx_case_version ON case_version_association (test_case_id, version_id);

-- script_files.type is cucumber, python, and so on
CREATE TABLE script_files (
    id VARCHAR(50) NOT NULL,
    filename VARCHAR(255) NOT NULL,
    type VARCHAR(50) NOT NULL,
    content TEXT,
    test_case_id VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE
);
CREATE INDEX idx_script_test_case ON script_files (test_case_id);

-- test_case_key references test_cases.key through the unique index ix_test_cases_key
CREATE TABLE test_executions (
    id VARCHAR(50) NOT NULL,
    test_case_key VARCHAR(50) NOT NULL,
    cycle_id VARCHAR(50) NOT NULL,
    cycle_name VARCHAR(255),
    status VARCHAR(50) NOT NULL,
    status_name VARCHAR(100),
    environment_id VARCHAR(50),
    environment_name VARCHAR(100),
    executed_by VARCHAR(100),
    executed_by_name VARCHAR(255),
    executed_on {{timestamp}},
    created_on {{timestamp}},
    created_by VARCHAR(100),
    updated_on {{timestamp}},
    updated_by VARCHAR(100),
    actual_time INTEGER,
    comment TEXT,
    project_key VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (test_case_key) REFERENCES test_cases (key) ON DELETE CASCADE,
    FOREIGN KEY (cycle_id) REFERENCES test_cycles (id) ON DELETE CASCADE,
    FOREIGN KEY (environment_id) REFERENCES environments (id) ON DELETE SET NULL,
    FOREIGN KEY (project_key) REFERENCES projects (key) ON DELETE CASCADE
);
CREATE INDEX idx_test_execution_case ON test_executions (test_case_key);
CREATE INDEX idx_test_execution_cycle ON test_executions (cycle_id);
CREATE INDEX idx_test_execution_environment ON test_executions (environment_id);
CREATE INDEX idx_test_execution_project ON test_executions (project_key);
CREATE INDEX idx_test_execution_status ON test_executions (status);

-- The column "index" is a reserved word and is always quoted
CREATE TABLE test_steps (
    id VARCHAR(50) NOT NULL,
    "index" INTEGER NOT NULL,
    description TEXT NOT NULL,
    expected_result TEXT,
    data TEXT,
    actual_result TEXT,
    status VARCHAR(50),
    test_case_id VARCHAR(50),
    test_execution_id VARCHAR(50),
    PRIMARY KEY (id),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE,
    FOREIGN KEY (test_execution_id) REFERENCES test_executions (id) ON DELETE CASCADE
);
CREATE INDEX idx_step_index ON test_steps ("index");
CREATE INDEX idx_step_test_case ON test_steps (test_case_id);
CREATE INDEX idx_step_test_execution ON test_steps (test_execution_id);
