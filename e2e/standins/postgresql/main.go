// A stand-in for pulumi-resource-postgresql in the end-to-end run, used only because the real
// provider cannot be built here: the Go module proxy this project reaches refuses
// github.com/pulumi/pulumi-postgresql/provider/v3 and the Terraform provider it bridges
// (github.com/cyrilgdn/terraform-provider-postgresql) with 403 Forbidden.
//
// It serves the four resource types the program uses (Role, Schema, Grant, DefaultPrivileges)
// over the real provider protocol, with the same tokens, inputs, ids and replace rules as the
// Terraform provider, and runs the SQL that provider runs against the real server. Read reports
// what the catalogs say, so refresh sees drift. What it cannot prove: the real provider's own
// diffs, defaults and state shape.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/blang/semver"
	_ "github.com/lib/pq"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// The version of @pulumi/postgresql that the program's SDK asks for.
var version = semver.MustParse("3.18.1")

const (
	roleType     = "postgresql:index/role:Role"
	schemaType   = "postgresql:index/schema:Schema"
	grantType    = "postgresql:index/grant:Grant"
	defaultsType = "postgresql:index/defaultPrivileges:DefaultPrivileges"
)

// Inputs whose change replaces the resource, as ForceNew in the Terraform provider.
var replaceOn = map[string][]string{
	roleType:     {"name"},
	schemaType:   {"name", "database"},
	grantType:    {"database", "schema", "role", "objectType", "privileges", "objects"},
	defaultsType: {"database", "schema", "owner", "role", "objectType", "privileges"},
}

type postgres struct {
	plugin.UnimplementedProvider
	config map[string]string
}

func main() {
	err := provider.Main("postgresql", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return plugin.NewProviderServer(&postgres{}), nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}

// text reads a property as the Terraform bridge would: secrets and outputs unwrapped, numbers and bools as text.
func text(m resource.PropertyMap, key string) string {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return ""
	}
	return valueText(v)
}

func valueText(v resource.PropertyValue) string {
	switch {
	case v.IsSecret():
		return valueText(v.SecretValue().Element)
	case v.IsOutput():
		return valueText(v.OutputValue().Element)
	case v.IsString():
		return v.StringValue()
	case v.IsNumber():
		return fmt.Sprintf("%g", v.NumberValue())
	case v.IsBool():
		return fmt.Sprintf("%t", v.BoolValue())
	}
	return ""
}

func list(m resource.PropertyMap, key string) []string {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || !v.IsArray() {
		return nil
	}
	var out []string
	for _, item := range v.ArrayValue() {
		out = append(out, strings.ToUpper(valueText(item)))
	}
	sort.Strings(out)
	return out
}

func ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
func literal(s string) string  { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

func (p *postgres) open(database string) (*sql.DB, error) {
	if database == "" {
		database = p.config["database"]
	}
	dsn := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(p.config["username"], p.config["password"]),
		Host:   fmt.Sprintf("%s:%s", p.config["host"], p.config["port"]),
		Path:   "/" + database,
	}
	query := url.Values{"sslmode": {p.config["sslmode"]}, "connect_timeout": {p.config["connectTimeout"]}}
	// As the real provider: a path lib/pq reads at each connection, relative to the plugin's working
	// directory (the project's); with verify-full lib/pq checks the host against the certificate too.
	if p.config["sslrootcert"] != "" {
		query.Set("sslrootcert", p.config["sslrootcert"])
	}
	dsn.RawQuery = query.Encode()
	return sql.Open("postgres", dsn.String())
}

func (p *postgres) exec(database string, statements ...string) error {
	db, err := p.open(database)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, statement := range statements {
		if _, err := db.Exec(statement); err != nil {
			return fmt.Errorf("%s: %w", statement, err)
		}
	}
	return nil
}

func (p *postgres) Pkg() tokens.Package { return "postgresql" }

func (p *postgres) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	return plugin.PluginInfo{Version: &version}, nil
}

func (p *postgres) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	return plugin.GetSchemaResponse{Schema: []byte(fmt.Sprintf(`{"name":"postgresql","version":%q}`, version))}, nil
}

func (p *postgres) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

func (p *postgres) DiffConfig(_ context.Context, req plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return diffKeys(req.OldInputs, req.NewInputs, nil), nil
}

func (p *postgres) Configure(_ context.Context, req plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	p.config = map[string]string{}
	for key := range req.Inputs {
		p.config[string(key)] = text(req.Inputs, string(key))
	}
	if p.config["sslmode"] == "" {
		p.config["sslmode"] = "prefer"
	}
	if p.config["connectTimeout"] == "" {
		p.config["connectTimeout"] = "180"
	}
	return plugin.ConfigureResponse{}, nil
}

func (p *postgres) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	return plugin.CheckResponse{Properties: req.News}, nil
}

// diffKeys compares every input; a change of a key in `replace` replaces the resource.
func diffKeys(olds, news resource.PropertyMap, replace []string) plugin.DiffResult {
	result := plugin.DiffResult{Changes: plugin.DiffNone, DetailedDiff: map[string]plugin.PropertyDiff{}}
	keys := map[resource.PropertyKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	for k := range keys {
		before, after := valueString(olds[k]), valueString(news[k])
		if before == after {
			continue
		}
		result.Changes = plugin.DiffSome
		result.ChangedKeys = append(result.ChangedKeys, k)
		kind := plugin.DiffUpdate
		for _, r := range replace {
			if string(k) == r {
				kind = plugin.DiffUpdateReplace
				result.ReplaceKeys = append(result.ReplaceKeys, k)
			}
		}
		result.DetailedDiff[string(k)] = plugin.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return result
}

func valueString(v resource.PropertyValue) string {
	if v.IsArray() {
		var items []string
		for _, item := range v.ArrayValue() {
			items = append(items, strings.ToUpper(valueText(item)))
		}
		sort.Strings(items)
		return strings.Join(items, ",")
	}
	return valueText(v)
}

func (p *postgres) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	return diffKeys(req.OldInputs, req.NewInputs, replaceOn[string(req.Type)]), nil
}

func resourceID(t string, in resource.PropertyMap) string {
	switch t {
	case roleType:
		return text(in, "name")
	case schemaType:
		return text(in, "database") + "." + text(in, "name")
	case grantType:
		return strings.Join([]string{text(in, "role"), text(in, "database"), text(in, "schema"), text(in, "objectType")}, "_")
	default:
		return strings.Join([]string{text(in, "role"), text(in, "database"), text(in, "schema"), text(in, "owner"), text(in, "objectType")}, "_")
	}
}

// apply runs the statements that make the database match `in`.
func (p *postgres) apply(t string, in resource.PropertyMap) error {
	privileges := strings.Join(list(in, "privileges"), ", ")
	switch t {
	case roleType:
		options := "NOLOGIN"
		if text(in, "login") == "true" {
			options = "LOGIN"
		}
		if text(in, "bypassRowLevelSecurity") == "true" {
			options += " BYPASSRLS"
		} else {
			options += " NOBYPASSRLS"
		}
		limit := text(in, "connectionLimit")
		if limit == "" {
			limit = "-1"
		}
		options += fmt.Sprintf(" CONNECTION LIMIT %s PASSWORD %s", limit, literal(text(in, "password")))
		name := ident(text(in, "name"))
		statement := fmt.Sprintf("ALTER ROLE %s WITH %s", name, options)
		var exists bool
		db, err := p.open("")
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.QueryRow("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", text(in, "name")).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			statement = fmt.Sprintf("CREATE ROLE %s WITH %s", name, options)
		}
		if _, err := db.Exec(statement); err != nil {
			return fmt.Errorf("role %s: %w", text(in, "name"), err)
		}
		// Memberships ("roles"), granted as the Terraform provider does.
		for _, member := range list(in, "roles") {
			if _, err := db.Exec(fmt.Sprintf("GRANT %s TO %s", ident(strings.ToLower(member)), name)); err != nil {
				return fmt.Errorf("role %s: %w", text(in, "name"), err)
			}
		}
		return nil
	case schemaType:
		return p.exec(text(in, "database"), fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s AUTHORIZATION %s", ident(text(in, "name")), ident(text(in, "owner"))))
	case grantType:
		schema, role := ident(text(in, "schema")), ident(text(in, "role"))
		if text(in, "objectType") == "schema" {
			return p.exec(text(in, "database"), fmt.Sprintf("REVOKE ALL ON SCHEMA %s FROM %s", schema, role),
				fmt.Sprintf("GRANT %s ON SCHEMA %s TO %s", privileges, schema, role))
		}
		kind := strings.ToUpper(text(in, "objectType")) + "S"
		return p.exec(text(in, "database"), fmt.Sprintf("REVOKE ALL ON ALL %s IN SCHEMA %s FROM %s", kind, schema, role),
			fmt.Sprintf("GRANT %s ON ALL %s IN SCHEMA %s TO %s", privileges, kind, schema, role))
	default:
		kind := strings.ToUpper(text(in, "objectType")) + "S"
		prefix := fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s", ident(text(in, "owner")), ident(text(in, "schema")))
		return p.exec(text(in, "database"), fmt.Sprintf("%s REVOKE ALL ON %s FROM %s", prefix, kind, ident(text(in, "role"))),
			fmt.Sprintf("%s GRANT %s ON %s TO %s", prefix, privileges, kind, ident(text(in, "role"))))
	}
}

func (p *postgres) Create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	id := resourceID(string(req.Type), req.Properties)
	if !req.Preview {
		if err := p.apply(string(req.Type), req.Properties); err != nil {
			return plugin.CreateResponse{}, err
		}
	}
	return plugin.CreateResponse{ID: resource.ID(id), Properties: req.Properties, Status: resource.StatusOK}, nil
}

func (p *postgres) Update(_ context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	if !req.Preview {
		if err := p.apply(string(req.Type), req.NewInputs); err != nil {
			return plugin.UpdateResponse{}, err
		}
	}
	return plugin.UpdateResponse{Properties: req.NewInputs, Status: resource.StatusOK}, nil
}

// Read reports what the catalogs hold: nothing when the object is gone, the live privileges otherwise.
func (p *postgres) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	in := req.Inputs
	db, err := p.open(text(in, "database"))
	if err != nil {
		return plugin.ReadResponse{}, err
	}
	defer db.Close()
	var exists bool
	var privileges []string
	switch string(req.Type) {
	case roleType:
		err = db.QueryRow("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", text(in, "name")).Scan(&exists)
	case schemaType:
		err = db.QueryRow("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", text(in, "name")).Scan(&exists)
	case grantType, defaultsType:
		exists = true
		for _, privilege := range list(in, "privileges") {
			var held bool
			query, args := grantQuery(string(req.Type), in, privilege)
			if err = db.QueryRow(query, args...).Scan(&held); err != nil {
				break
			}
			if held {
				privileges = append(privileges, privilege)
			}
		}
	}
	if err != nil {
		return plugin.ReadResponse{}, err
	}
	if !exists {
		return plugin.ReadResponse{ReadResult: plugin.ReadResult{ID: req.ID}, Status: resource.StatusOK}, nil
	}
	outputs := req.State.Copy()
	inputs := req.Inputs.Copy()
	if privileges != nil || string(req.Type) == grantType || string(req.Type) == defaultsType {
		values := []resource.PropertyValue{}
		for _, privilege := range privileges {
			values = append(values, resource.NewStringProperty(privilege))
		}
		outputs["privileges"] = resource.NewArrayProperty(values)
		inputs["privileges"] = resource.NewArrayProperty(values)
	}
	return plugin.ReadResponse{ReadResult: plugin.ReadResult{ID: req.ID, Inputs: inputs, Outputs: outputs}, Status: resource.StatusOK}, nil
}

// grantQuery asks whether the role holds the privilege: in the schema's default privileges for the
// owner, on the schema itself, or on every object of that kind in the schema (true for none).
func grantQuery(t string, in resource.PropertyMap, privilege string) (string, []any) {
	role, schema, objectType := text(in, "role"), text(in, "schema"), text(in, "objectType")
	if t == defaultsType {
		kind := map[string]string{"table": "r", "sequence": "S"}[objectType]
		return `SELECT EXISTS (SELECT 1 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace,
			aclexplode(d.defaclacl) a WHERE n.nspname = $2 AND d.defaclobjtype = $5
			AND pg_get_userbyid(d.defaclrole) = $4 AND pg_get_userbyid(a.grantee) = $1 AND a.privilege_type = $3)`,
			[]any{role, schema, privilege, text(in, "owner"), kind}
	}
	if objectType == "schema" {
		return "SELECT has_schema_privilege($1, $2, $3)", []any{role, schema, privilege}
	}
	kinds := map[string]string{"table": "{r,p,v,m,f}", "sequence": "{S}"}[objectType]
	return `SELECT coalesce(bool_and(EXISTS (SELECT 1 FROM aclexplode(c.relacl) a
			WHERE pg_get_userbyid(a.grantee) = $1 AND a.privilege_type = $3)), true)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $2 AND c.relkind::text = ANY ($4::text[])`, []any{role, schema, privilege, kinds}
}

func (p *postgres) Delete(_ context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	in := req.Inputs
	var statements []string
	switch string(req.Type) {
	case roleType:
		role := ident(text(in, "name"))
		statements = []string{fmt.Sprintf("REASSIGN OWNED BY %s TO CURRENT_USER", role), fmt.Sprintf("DROP OWNED BY %s", role), fmt.Sprintf("DROP ROLE IF EXISTS %s", role)}
	case schemaType:
		mode := "RESTRICT"
		if text(in, "dropCascade") == "true" {
			mode = "CASCADE"
		}
		statements = []string{fmt.Sprintf("DROP SCHEMA IF EXISTS %s %s", ident(text(in, "name")), mode)}
	case grantType:
		if text(in, "objectType") == "schema" {
			statements = []string{fmt.Sprintf("REVOKE ALL ON SCHEMA %s FROM %s", ident(text(in, "schema")), ident(text(in, "role")))}
		} else {
			statements = []string{fmt.Sprintf("REVOKE ALL ON ALL %sS IN SCHEMA %s FROM %s", strings.ToUpper(text(in, "objectType")), ident(text(in, "schema")), ident(text(in, "role")))}
		}
	default:
		statements = []string{fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s REVOKE ALL ON %sS FROM %s",
			ident(text(in, "owner")), ident(text(in, "schema")), strings.ToUpper(text(in, "objectType")), ident(text(in, "role")))}
	}
	if err := p.exec(text(in, "database"), statements...); err != nil {
		// Like the Terraform provider, a grant on a schema or role that is already gone is deleted.
		if strings.Contains(err.Error(), "does not exist") {
			return plugin.DeleteResponse{Status: resource.StatusOK}, nil
		}
		return plugin.DeleteResponse{}, err
	}
	return plugin.DeleteResponse{Status: resource.StatusOK}, nil
}
