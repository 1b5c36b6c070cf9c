-- The challenge asks for at least one row.
INSERT INTO attendees (full_name, email, role, company)
VALUES ('Ada Lovelace', 'ada.lovelace@example.com', 'speaker', 'Analytical Engines Ltd');
