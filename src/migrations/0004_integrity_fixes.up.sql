-- ztoq-migration: 4 integrity_fixes -
-- Integrity fixes for weaknesses of the original schema (reference section 10, item 17).
--
-- 1. case_label_association and case_version_association get a composite primary key
-- ztoq-dialect: sqlite
--    and NOT NULL columns. SQLite cannot add a primary key in place, so each table is
--    rebuilt: the old table is renamed aside, the new one created under the original
--    name, the rows copied, the old one dropped. This is safe with foreign_keys ON
--    because no table references the association tables.
--    The copy keeps each pair once and leaves out rows that cannot satisfy the new
--    table: pairs with a NULL side and pairs whose test case, label or version no
--    longer exists (rows that ON DELETE CASCADE would have removed had foreign keys
--    been enforced when they were written).
--    idx_case_label and idx_case_version are not recreated: the primary key index
--    covers the same columns in the same order.
-- ztoq-dialect: postgresql
--    and NOT NULL columns. Pairs with a NULL side are deleted (they link nothing) and
--    duplicate pairs are reduced to one row first.
--    idx_case_label and idx_case_version are dropped: the primary key index covers the
--    same columns in the same order.
-- ztoq-dialect: end
-- 2. ix_entity_batch_state_project_key is dropped: it duplicates idx_entity_batch_project.
-- ztoq-dialect: sqlite
-- 3. custom_field_values gets uq_custom_field_value_entity on
-- ztoq-dialect: postgresql
-- 3. custom_field_values gets the constraint uq_custom_field_value_entity on
-- ztoq-dialect: end
--    (field_id, entity_type, entity_id). Existing duplicates make this migration fail.

-- ztoq-dialect: sqlite
ALTER TABLE case_label_association RENAME TO case_label_association_old;
CREATE TABLE case_label_association (
    test_case_id VARCHAR(50) NOT NULL,
    label_id VARCHAR(50) NOT NULL,
    PRIMARY KEY (test_case_id, label_id),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE,
    FOREIGN KEY (label_id) REFERENCES labels (id) ON DELETE CASCADE
);
INSERT INTO case_label_association (test_case_id, label_id)
    SELECT DISTINCT test_case_id, label_id FROM case_label_association_old
    WHERE test_case_id IN (SELECT id FROM test_cases)
      AND label_id IN (SELECT id FROM labels);
DROP TABLE case_label_association_old;
-- ztoq-dialect: postgresql
DELETE FROM case_label_association
    WHERE test_case_id IS NULL OR label_id IS NULL;
DELETE FROM case_label_association a
    USING case_label_association b
    WHERE a.test_case_id = b.test_case_id
      AND a.label_id = b.label_id
      AND a.ctid > b.ctid;
DROP INDEX idx_case_label;
ALTER TABLE case_label_association
    ALTER COLUMN test_case_id SET NOT NULL,
    ALTER COLUMN label_id SET NOT NULL,
    ADD CONSTRAINT case_label_association_pkey PRIMARY KEY (test_case_id, label_id);
-- ztoq-dialect: end

-- ztoq-dialect: sqlite
ALTER TABLE case_version_association RENAME TO case_version_association_old;
CREATE TABLE case_version_association (
    test_case_id VARCHAR(50) NOT NULL,
    version_id VARCHAR(50) NOT NULL,
    PRIMARY KEY (test_case_id, version_id),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE,
    FOREIGN KEY (version_id) REFERENCES case_versions (id) ON DELETE CASCADE
);
INSERT INTO case_version_association (test_case_id, version_id)
    SELECT DISTINCT test_case_id, version_id FROM case_version_association_old
    WHERE test_case_id IN (SELECT id FROM test_cases)
      AND version_id IN (SELECT id FROM case_versions);
DROP TABLE case_version_association_old;
-- ztoq-dialect: postgresql
DELETE FROM case_version_association
    WHERE test_case_id IS NULL OR version_id IS NULL;
DELETE FROM case_version_association a
    USING case_version_association b
    WHERE a.test_case_id = b.test_case_id
      AND a.version_id = b.version_id
      AND a.ctid > b.ctid;
DROP INDEX idx_case_version;
ALTER TABLE case_version_association
    ALTER COLUMN test_case_id SET NOT NULL,
    ALTER COLUMN version_id SET NOT NULL,
    ADD CONSTRAINT case_version_association_pkey PRIMARY KEY (test_case_id, version_id);
-- ztoq-dialect: end

DROP INDEX ix_entity_batch_state_project_key;

-- ztoq-dialect: sqlite
CREATE UNIQUE INDEX uq_custom_field_value_entity ON custom_field_values (field_id, entity_type, entity_id);
-- ztoq-dialect: postgresql
ALTER TABLE custom_field_values
    ADD CONSTRAINT uq_custom_field_value_entity UNIQUE (field_id, entity_type, entity_id);
-- ztoq-dialect: end
