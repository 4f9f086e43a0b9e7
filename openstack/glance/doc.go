// Package glance is Glance's image API as nova's nova/image/glance.py uses it: the choice of
// endpoint ([glance] api_servers, endpoint_override, else the request's service catalog) and
// the image download (the image record and its data, with nova's retry rule), and the writes
// of a snapshot or backup (the record's patch, the data's streamed upload, the listing behind
// backup rotation, delete).
//
// glancetest holds the Glance test server other packages' tests run against.
package glance
