package identity

import (
	"reflect"
	"testing"
)

// fill sets every field reachable from v to a non-zero value: each slice and map gets
// one element, each pointer a target, so that a clone that shares one is caught.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				fill(f)
			} else if v.Type().Field(i).Type.Kind() == reflect.String {
				continue // unexported strings are values: nothing to share
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem())
		v.Set(p)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	case reflect.Uint8:
		v.SetUint(7)
	}
}

// shared reports the path of the first slice, map or pointer a and b share.
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Map, reflect.Pointer:
		if !a.IsNil() && a.UnsafePointer() == b.UnsafePointer() {
			return path
		}
		if a.Kind() == reflect.Pointer && !a.IsNil() {
			return shared(a.Elem(), b.Elem(), path)
		}
		if a.Kind() == reflect.Slice {
			for i := range a.Len() {
				if p := shared(a.Index(i), b.Index(i), path); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// TestTenantCloneShares: a cached tenant is handed out as a clone, so a settings field
// of a reference type (a slice, a map, a pointer) that Clone forgets would let one
// request's change reach every other request of the node.
func TestTenantCloneShares(t *testing.T) {
	var orig Tenant
	fill(reflect.ValueOf(&orig).Elem())
	if len(orig.Settings.GrantTypes) != 1 || len(orig.Settings.Branding.Texts) != 1 || len(orig.Settings.WebhookSecret.Sealed) != 1 {
		t.Fatalf("fill left reference fields empty: %+v", orig.Settings)
	}
	c := orig.Clone()
	if !reflect.DeepEqual(*c, orig) {
		t.Fatalf("clone differs:\n%+v\n%+v", *c, orig)
	}
	if p := shared(reflect.ValueOf(*c), reflect.ValueOf(orig), "Tenant"); p != "" {
		t.Errorf("Clone shares %s with the original", p)
	}
}
