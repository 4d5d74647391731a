-- ztoq-migration: 4 integrity_fixes -
-- Restores the schema of revision 3: association tables without primary key and with
-- ztoq-dialect: sqlite
-- nullable columns (rebuilt with their original definition and index), the duplicate
-- index ix_entity_batch_state_project_key, no unique key on custom_field_values.
-- Rows removed by the upgrade (duplicates, NULL or dangling pairs) do not come back.
-- ztoq-dialect: postgresql
-- nullable columns plus their original indexes, the duplicate index
-- ix_entity_batch_state_project_key, no unique key on custom_field_values.
-- Rows removed by the upgrade (duplicates, NULL pairs) do not come back.
-- ztoq-dialect: end

-- ztoq-dialect: sqlite
DROP INDEX uq_custom_field_value_entity;
-- ztoq-dialect: postgresql
ALTER TABLE custom_field_values
    DROP CONSTRAINT uq_custom_field_value_entity;
-- ztoq-dialect: end

CREATE INDEX ix_entity_batch_state_project_key ON entity_batch_state (project_key);

-- ztoq-dialect: sqlite
ALTER TABLE case_version_association RENAME TO case_version_association_old;
CREATE TABLE case_version_association (
    test_case_id VARCHAR(50),
    version_id VARCHAR(50),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE,
    FOREIGN KEY (version_id) REFERENCES case_versions (id) ON DELETE CASCADE
);
INSERT INTO case_version_association (test_case_id, version_id)
    SELECT test_case_id, version_id FROM case_version_association_old;
DROP TABLE case_version_association_old;
-- ztoq-dialect: postgresql
ALTER TABLE case_version_association
    DROP CONSTRAINT case_version_association_pkey,
    ALTER COLUMN test_case_id DROP NOT NULL,
    ALTER COLUMN version_id DROP NOT NULL;
-- ztoq-dialect: end
CREATE INDEX idx_case_version ON case_version_association (test_case_id, version_id);

-- ztoq-dialect: sqlite
ALTER TABLE case_label_association RENAME TO case_label_association_old;
CREATE TABLE case_label_association (
    test_case_id VARCHAR(50),
    label_id VARCHAR(50),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE,
    FOREIGN KEY (label_id) REFERENCES labels (id) ON DELETE CASCADE
);
INSERT INTO case_label_association (test_case_id, label_id)
    SELECT test_case_id, label_id FROM case_label_association_old;
DROP TABLE case_label_association_old;
-- ztoq-dialect: postgresql
ALTER TABLE case_label_association
    DROP CONSTRAINT case_label_association_pkey,
    ALTER COLUMN test_case_id DROP NOT NULL,
    ALTER COLUMN label_id DROP NOT NULL;
-- ztoq-dialect: end
CREATE INDEX idx_case_label ON case_label_association (test_case_id, label_id);
