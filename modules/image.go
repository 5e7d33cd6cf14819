package modules

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "image",
		Doc: `Load a "docker save" image archive onto hosts that lack it.

The archive is read on the controller (src relative to the playbook, or
absolute). The image IDs are taken from its manifest.json (the sha256 of
each image's config); a host whose engine already has every image with that
ID and each of its tags pointing at it is left alone, others get the archive
streamed over the connection and loaded. This is how images reach hosts
without a registry.

    image(hosts("all"), src = "images/web.tar")`,
		Params: []Param{
			{Name: "src", Type: String, Required: true, Doc: "docker save archive on the controller, relative to the playbook or absolute"},
		},
		Outputs: map[string]string{
			"id":   "ID of the (first) image in the archive",
			"ids":  "IDs of all images in the archive",
			"tags": "the tags the archive gives them",
		},
		Run: withDocker(runImage),
	})
}

// archiveImage is one image described by a docker save archive.
type archiveImage struct {
	ID   string
	Tags []string
}

// readImageArchive reads manifest.json and hashes each image's config, the
// image ID the engine gives it.
func readImageArchive(file string) ([]archiveImage, error) {
	manifest, blobs, err := scanArchive(file, nil)
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
	}
	if manifest == nil {
		return nil, fmt.Errorf("%s: no manifest.json: not a docker save archive", file)
	}
	if err := json.Unmarshal(manifest, &entries); err != nil {
		return nil, fmt.Errorf("%s: manifest.json: %w", file, err)
	}
	want := map[string]bool{}
	for _, e := range entries {
		want[path.Clean(e.Config)] = true
	}
	if _, blobs, err = scanArchive(file, want); err != nil {
		return nil, err
	}
	var out []archiveImage
	for _, e := range entries {
		h, ok := blobs[path.Clean(e.Config)]
		if !ok {
			return nil, fmt.Errorf("%s: config %s named in manifest.json is missing", file, e.Config)
		}
		out = append(out, archiveImage{ID: "sha256:" + h, Tags: e.RepoTags})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: archive holds no image", file)
	}
	return out, nil
}

// scanArchive returns manifest.json's content and the sha256 of the members
// named in hash.
func scanArchive(file string, hash map[string]bool) ([]byte, map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var manifest []byte
	sums := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		name := path.Clean(h.Name)
		switch {
		case name == "manifest.json":
			if manifest, err = io.ReadAll(tr); err != nil {
				return nil, nil, err
			}
		case hash[name]:
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, nil, err
			}
			sums[name] = sha256Hex(b)
		}
	}
	return manifest, sums, nil
}

func runImage(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	plan := NewPlan("image", "image already present")
	file := srcPath(t, p.String("src"))
	imgs, err := readImageArchive(file)
	if err != nil {
		return nil, plan.Errorf("%w", err)
	}
	missing, err := imagesMissing(ctx, api, imgs)
	if err != nil {
		return nil, plan.Errorf("%w", err)
	}
	// ids and tags come from the archive, whatever the engine holds, so a
	// later step can use them on a first load and in check mode too.
	var ids, tags []any
	for _, img := range imgs {
		ids = append(ids, img.ID)
		for _, tag := range img.Tags {
			tags = append(tags, tag)
		}
	}
	res := &Result{Outputs: map[string]any{"id": imgs[0].ID, "ids": ids, "tags": tags}}
	if len(missing) > 0 {
		what := "load image " + path.Base(file) + " (" + strings.Join(missing, ", ") + ")"
		plan.Add(what, "+ image "+strings.Join(missing, "\n+ image ")+"\n", func(ctx context.Context) error {
			if err := loadImages(ctx, api, file); err != nil {
				return err
			}
			for _, img := range imgs {
				if _, err := api.ImageInspect(ctx, img.ID); err != nil {
					return fmt.Errorf("image %s not present after loading: %w", img.ID, err)
				}
			}
			return nil
		})
	}
	return plan.Apply(ctx, t, res)
}

// imagesMissing names what the engine lacks of the archive's images: an
// image by (short) ID, else each tag that does not point at it.
func imagesMissing(ctx context.Context, api client.APIClient, imgs []archiveImage) (missing []string, err error) {
	for _, img := range imgs {
		_, err := api.ImageInspect(ctx, img.ID)
		switch {
		case errdefs.IsNotFound(err):
			missing = append(missing, img.ID[:19])
			continue
		case err != nil:
			return nil, err
		}
		for _, tag := range img.Tags {
			cur, err := api.ImageInspect(ctx, tag)
			if errdefs.IsNotFound(err) || (err == nil && cur.ID != img.ID) {
				missing = append(missing, tag)
			} else if err != nil {
				return nil, err
			}
		}
	}
	return missing, nil
}

// loadImages sends the archive to the engine, which reports failures
// inside its JSON message stream.
func loadImages(ctx context.Context, api client.APIClient, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	lr, err := api.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	defer lr.Body.Close()
	dec := json.NewDecoder(lr.Body)
	for {
		var m struct {
			Error       string
			ErrorDetail *struct{ Message string } `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			if lr.JSON {
				return fmt.Errorf("engine: %w", err)
			}
			break
		}
		if m.ErrorDetail != nil || m.Error != "" {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			return errors.New("engine: " + msg)
		}
	}
	return nil
}
