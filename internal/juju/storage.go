package juju

import "context"

// StorageInfo describes one attached storage instance.
type StorageInfo struct {
	Kind     string `json:"kind"`     // "filesystem" or "block"
	Location string `json:"location"` // mount point or device path
}

// StorageList lists the ids ("<name>/<n>") of the storage instances attached
// to this unit under the storage name; an empty name lists all.
//
//	storage-list --format=json [<name>]
func (c *Client) StorageList(ctx context.Context, name string) ([]string, error) {
	args := []string{"--format=json"}
	if name != "" {
		args = append(args, name)
	}
	var ids []string
	if err := c.runJSON(ctx, &ids, "storage-list", args...); err != nil {
		return nil, err
	}
	return ids, nil
}

// StorageGet describes storage instance id. -s is given explicitly because
// outside a storage hook there is no default instance.
//
//	storage-get -s <id> --format=json
func (c *Client) StorageGet(ctx context.Context, id string) (StorageInfo, error) {
	if err := requireNonEmpty("storage-get: storage id", id); err != nil {
		return StorageInfo{}, err
	}
	var info StorageInfo
	if err := c.runJSON(ctx, &info, "storage-get", "-s", id, "--format=json"); err != nil {
		return StorageInfo{}, err
	}
	return info, nil
}
