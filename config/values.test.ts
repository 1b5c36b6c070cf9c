import * as assert from "assert";
import {
    cidrProblem, editDistance, formatIpv6, hostProblem, ipv6Groups, parseImageReference, pinnedImageProblem, quote, tagMajor,
} from "./values";

const SHA256 = "0123456789abcdef".repeat(4);
const SHA512 = SHA256.repeat(2);

describe("value grammars", () => {
    it("quotes a value whole up to 40 characters, and cuts a longer one with its length", () => {
        assert.strictEqual(quote("10 GB"), "\"10 GB\"");
        assert.strictEqual(quote("a".repeat(40)), `"${"a".repeat(40)}"`);
        assert.strictEqual(quote("a".repeat(10_000)), `"${"a".repeat(40)}…" (10000 characters)`);
        assert.strictEqual(quote("a\nb"), "\"a\\nb\"");
        assert.strictEqual(quote("é".repeat(41)), `"${"é".repeat(40)}…" (41 characters)`);
    });

    describe("image references, as the container runtime parses them", () => {
        const accepted: Record<string, object> = {
            "postgres:18.1": { path: "postgres", tag: "18.1" },
            "docker.io/library/postgres:18.1-bookworm": { domain: "docker.io", path: "library/postgres", tag: "18.1-bookworm" },
            "registry.local:5000/db/postgres:18.1": { domain: "registry.local:5000", path: "db/postgres", tag: "18.1" },
            "localhost/postgres:18": { domain: "localhost", path: "postgres", tag: "18" },
            "[fd00::1]:5000/postgres:18": { domain: "[fd00::1]:5000", path: "postgres", tag: "18" },
            "MyRegistry/postgres:18": { domain: "MyRegistry", path: "postgres", tag: "18" },
            "ghcr.io/team/pg__base.x-y:18": { domain: "ghcr.io", path: "team/pg__base.x-y", tag: "18" },
            [`postgres@sha256:${SHA256}`]: { path: "postgres", digest: `sha256:${SHA256}` },
            [`postgres:18.1@sha256:${SHA256}`]: { path: "postgres", tag: "18.1", digest: `sha256:${SHA256}` },
            [`postgres@sha512:${SHA512}`]: { path: "postgres", digest: `sha512:${SHA512}` },
        };
        for (const [reference, parts] of Object.entries(accepted)) {
            it(`accepts ${reference.length > 60 ? `${reference.slice(0, 60)}…` : reference}`, () => {
                const parsed = parseImageReference(reference);
                assert.ok(!("problem" in parsed), JSON.stringify(parsed));
                assert.deepStrictEqual(Object.fromEntries(Object.entries(parsed).filter(([, value]) => value !== undefined)), parts);
            });
        }

        const refused: [string, RegExp][] = [
            ["", /it is empty/],
            ["postgres :18", /white space/],
            ["Postgres:18.1", /repository name in lower case/],
            ["team/Postgres:18.1", /repository name in lower case/],
            ["[\"postgres:18.1\"]", /a tag of letters/],
            ["postgres:", /a tag of letters/],
            ["postgres:.18", /a tag of letters/],
            [`postgres:${"1".repeat(129)}`, /a tag of letters.*at most 128/],
            ["postgres@sha256", /digest is not algorithm:hex/],
            [`postgres@sha256:${SHA256.slice(0, 12)}`, /digest is not algorithm:hex/],
            [`postgres@sha256:${SHA256.slice(0, 40)}`, /a sha256 digest of 64 lower-case hex digits; it has 40$/],
            [`postgres@sha256:${SHA256.toUpperCase()}`, /64 lower-case hex digits; it has 64, some upper case/],
            [`postgres@sha512:${SHA256}`, /a sha512 digest of 128/],
            [`postgres@md5:${SHA256.slice(0, 32)}`, /sha256 .* or sha512 .*; the algorithm is "md5"/],
            ["registry.local:99999/postgres:18", /registry "registry.local:99999"/],
            ["-bad.example.com/postgres:18", /registry/],
            ["postgres--/x:18", /repository part "postgres--"/],
            [`${"a".repeat(256)}:18`, /at most 255 characters; it has 256/],
        ];
        for (const [reference, expected] of refused) {
            it(`refuses ${JSON.stringify(reference.length > 50 ? `${reference.slice(0, 50)}…` : reference)}`, () => {
                const parsed = parseImageReference(reference);
                assert.ok("problem" in parsed, `accepted: ${JSON.stringify(parsed)}`);
                assert.match(parsed.problem, expected);
            });
        }

        it("reads the major version a tag starts with, and none from a floating tag", () => {
            assert.deepStrictEqual(["18", "18.1", "18.1-bookworm", "18-alpine3.22", "18beta3", "19rc1", "alpine", "lts-alpine", "bookworm", "latest", "v18", "18x"].map(tagMajor),
                [18, 18, 18, 18, 18, 19, undefined, undefined, undefined, undefined, undefined, undefined]);
        });

        it("a pinned image: a digest, or a tag that starts with a major version new enough", () => {
            const problem = (reference: string) => pinnedImageProblem(reference, "PostgreSQL", 15, "postgres:18.1", "why");
            assert.strictEqual(problem("postgres:15"), undefined);
            assert.strictEqual(problem(`postgres@sha256:${SHA256}`), undefined);
            assert.match(problem("postgres:alpine") ?? "", /a tag that starts with the PostgreSQL major version .* the tag "alpine" moves to each new major release/);
            assert.match(problem("postgres:latest") ?? "", /not latest/);
            assert.match(problem("postgres") ?? "", /it has no tag/);
            assert.match(problem("postgres:14.13") ?? "", /^PostgreSQL 15 or later \(why\)$/);
            assert.match(problem(`postgres:14@sha256:${SHA256}`) ?? "", /PostgreSQL 15 or later/, "a tag beside the digest is checked too");
        });
    });

    describe("CIDRs: an IPv4 or IPv6 network and its prefix, no host bits", () => {
        for (const cidr of ["0.0.0.0/0", "10.0.0.0/8", "192.168.1.10/32", "::/0", "fd00::/8", "2001:db8::/32", "2001:db8:0:0:0:0:0:1/128", "::ffff:10.0.0.0/104", "fe80::/10"]) {
            it(`accepts ${cidr}`, () => assert.strictEqual(cidrProblem(cidr), undefined));
        }
        const refused: [string, RegExp][] = [
            [":/0", /does not start with an IPv4 or IPv6 address/],
            ["1:2:3:4:5:6:7:8:9/64", /does not start with an IPv4 or IPv6 address/],
            ["1::2::3/64", /does not start with/],
            ["fe80::1%eth0/64", /does not start with/],
            ["010.0.0.0/8", /does not start with/],
            ["300.1.1.1/8", /does not start with/],
            ["10.0.0.0/33", /prefix longer than 32 bits/],
            ["::/129", /prefix longer than 128 bits/],
            ["10.0.0.0/08", /not address\/prefix-length/],
            ["10.0.0.0", /not address\/prefix-length/],
            ["10.0.0.0/", /not address\/prefix-length/],
            ["10.0.0.1/8", /host bits set: the network is 10\.0\.0\.0\/8, one address is 10\.0\.0\.1\/32/],
            ["192.168.1.10/24", /the network is 192\.168\.1\.0\/24/],
            ["fd00::1/8", /the network is fd00::\/8, one address is fd00::1\/128/],
            ["2001:db8::ff/120", /the network is 2001:db8::\/120/],
        ];
        for (const [cidr, expected] of refused) {
            it(`refuses ${cidr}`, () => assert.match(cidrProblem(cidr) ?? "accepted", expected));
        }
        it("writes IPv6 addresses as RFC 5952 does", () => {
            assert.strictEqual(formatIpv6(ipv6Groups("2001:0DB8:0000:0000:0001:0000:0000:0001")!), "2001:db8::1:0:0:1");
            assert.strictEqual(formatIpv6(ipv6Groups("::")!), "::");
            assert.strictEqual(formatIpv6(ipv6Groups("1:0:2:3:4:5:6:7")!), "1:0:2:3:4:5:6:7");
        });
    });

    describe("hosts: RFC 1123 names, IPv4 and IPv6 addresses", () => {
        for (const host of ["localhost", "db.example.com", "db.example.com.", "my-db-1", "127.0.0.1", "::1", "fd00::10", "2001:db8::1", "1password.example"]) {
            it(`accepts ${host}`, () => assert.strictEqual(hostProblem(host), undefined));
        }
        for (const host of ["not a host", "-db.example.com", "db_1.example.com", "300.1.1.1", "1.2.3", "http://db.example.com", `${"a".repeat(64)}.example.com`, `${"a.".repeat(127)}com`, ""]) {
            it(`refuses ${JSON.stringify(host.length > 40 ? `${host.slice(0, 40)}…` : host)}`, () => assert.match(hostProblem(host) ?? "accepted", /a host name .*IPv4 .*IPv6/));
        }
        it("names the bracket-free form of a bracketed IPv6 address", () => {
            assert.strictEqual(hostProblem("[::1]"), "an IPv6 address without brackets, such as ::1");
        });
    });

    it("counts edits, a swap of neighbours as one", () => {
        assert.strictEqual(editDistance("dbPasword", "dbPassword"), 1);
        assert.strictEqual(editDistance("sslmdoe", "sslmode"), 1);
        assert.strictEqual(editDistance("kitten", "sitting"), 3);
    });
});
