package conductortest

import (
	"errors"
	"slices"
	"testing"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// Migration.save writes the changed fields of the row with that id, as migration_update does,
// and an unknown id is MigrationNotFound.
func TestMigrationSave(t *testing.T) {
	f := New()
	const id = "5d1b7c8e-1111-4222-8333-444455556666"
	m := newObj(t, "Migration", map[string]any{"id": int64(3), "uuid": id, "status": "pre-migrating",
		"migration_type": "resize", "source_compute": "vm"})
	f.PutMigration(m)
	change := f.Migration(id)
	if err := change.Set("status", "migrating"); err != nil {
		t.Fatal(err)
	}
	if err := change.Set("dest_compute", "vm"); err != nil {
		t.Fatal(err)
	}
	if _, err := action(t, f, change, "save", nil); err != nil {
		t.Fatal(err)
	}
	got := f.Migration(id)
	if st, _ := ovo.Value[string](got, "status"); st != "migrating" {
		t.Fatalf("status %q", st)
	}
	if src, _ := ovo.Value[string](got, "source_compute"); src != "vm" {
		t.Fatalf("an unchanged field was lost: source_compute %q", src)
	}
	if st := f.MigrationStatuses(id); !slices.Equal(st, []string{"migrating"}) {
		t.Fatalf("statuses %q", st)
	}
	unknown := newObj(t, "Migration", map[string]any{"id": int64(99), "uuid": id, "status": "error"})
	var re *rpc.RemoteError
	if _, err := action(t, f, unknown, "save", nil); !errors.As(err, &re) || re.Class != "MigrationNotFound" {
		t.Fatalf("save of an unknown migration = %v", err)
	}
}
