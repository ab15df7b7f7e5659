#!/bin/bash
# The shell approach of the Roboflow batch-processing docs ("AWS S3 Datasource"): list with
# `aws s3 ls --recursive`, filter image extensions, then one `aws s3 presign` per object with
# `xargs -P 20`, JSON built with echo. Kept as the docs have it, for a side-by-side benchmark.
# Usage: generate_s3_signed_urls.sh s3://bucket/prefix output.jsonl [expiration] [parallel-jobs]
set -e

S3_PATH="${1%/}"
OUTPUT_FILE="$2"
EXPIRATION="${3:-21600}"
PARALLEL_JOBS="${4:-20}"
BUCKET=$(echo "$S3_PATH" | sed 's|s3://||' | cut -d'/' -f1)
IMAGE_PATTERN='\.(jpg|jpeg|png|gif|bmp|webp|tiff|tif|svg)$'

process_file() {
    local file_path="$1"
    local bucket="$2"
    local expiration="$3"
    local s3_uri="s3://${bucket}/${file_path}"
    local signed_url=$(aws s3 presign "$s3_uri" --expires-in "$expiration" 2>/dev/null)
    if [ $? -eq 0 ]; then
        local name_with_path=$(echo "$file_path" | sed 's|/|__|g')
        echo "{\"name\": \"$name_with_path\", \"url\": \"$signed_url\"}"
    fi
}

export -f process_file
export BUCKET
export EXPIRATION

aws s3 ls "$S3_PATH/" --recursive | \
    awk '{print $4}' | \
    grep -iE "$IMAGE_PATTERN" | \
    xargs -I {} -P "$PARALLEL_JOBS" bash -c 'process_file "$@"' _ {} "$BUCKET" "$EXPIRATION" \
    > "$OUTPUT_FILE"
