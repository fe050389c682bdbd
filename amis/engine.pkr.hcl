# Stampede engine image: Amazon Linux 2023 with the engine release installed (binary, systemd
# unit, pre-start step, kernel settings). The service is installed but not enabled: the short
# user-data of a baked launch writes /etc/stampede/engine.env, then enables and starts it.
#
#   npm run package                                      # dist/release/stampede-engine-<v>-linux-x64.tar.gz
#   packer init amis/ && packer build \
#     -var release_tarball=dist/release/stampede-engine-0.1.0-linux-x64.tar.gz \
#     -var release_sha256=$(cut -d' ' -f1 dist/release/stampede-engine-0.1.0-linux-x64.tar.gz.sha256) \
#     -var version=0.1.0 -var region=eu-west-1 amis/
#
# plugins.pkr.hcl beside this file pins the amazon plugin for Packer 1.7+ (packer init).

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region the image is built in (copy it to others with ami_regions)."
}

variable "ami_regions" {
  type        = list(string)
  default     = []
  description = "Other regions to copy the image to."
}

variable "arch" {
  type        = string
  default     = "x64"
  description = "x64 or arm64: the release tarball's architecture."
}

variable "instance_type" {
  type        = string
  default     = ""
  description = "Build instance; default c7i.large (x64) or c7g.large (arm64)."
}

variable "release_tarball" {
  type        = string
  description = "The release tarball from npm run package."
}

variable "release_sha256" {
  type        = string
  description = "Its SHA-256 (the .sha256 file beside it)."
}

variable "version" {
  type        = string
  description = "The engine version, for the image name and tags."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Build in this subnet (default: the default VPC)."
}

locals {
  ami_arch  = var.arch == "arm64" ? "arm64" : "x86_64"
  instance  = var.instance_type != "" ? var.instance_type : (var.arch == "arm64" ? "c7g.large" : "c7i.large")
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "engine" {
  region        = var.region
  ami_regions   = var.ami_regions
  instance_type = local.instance
  subnet_id     = var.subnet_id
  ssh_username  = "ec2-user"
  ami_name      = "stampede-engine-${var.version}-${var.arch}-${local.timestamp}"

  # The stock image the fleet otherwise boots: the newest Amazon Linux 2023 from Amazon
  # (the same as the SSM parameter /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-<arch>).
  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-kernel-*-${local.ami_arch}"
      architecture        = local.ami_arch
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  # >>> needs Packer 1.7+ with the amazon plugin (packer init); Packer 1.6 does not know these.
  # IMDSv2 only, for the build instance, and as the image's default for every launch.
  imds_support = "v2.0"
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  # <<<

  tags = {
    Name               = "stampede-engine ${var.version} (${var.arch})"
    "stampede:role"    = "engine-image"
    "stampede:version" = var.version
    "stampede:base"    = "{{ .SourceAMIName }}"
  }
}

build {
  sources = ["source.amazon-ebs.engine"]

  provisioner "file" {
    source      = var.release_tarball
    destination = "/tmp/stampede-engine.tar.gz"
  }

  provisioner "shell" {
    inline = [
      "set -eu",
      "echo '${var.release_sha256}  /tmp/stampede-engine.tar.gz' | sha256sum --check --strict",
      "mkdir -p /tmp/stampede-release",
      "tar -xzf /tmp/stampede-engine.tar.gz -C /tmp/stampede-release --no-same-owner",
      "sudo /tmp/stampede-release/stampede-engine-*/install.sh",
      "rm -rf /tmp/stampede-release /tmp/stampede-engine.tar.gz",
      "if systemctl is-enabled --quiet stampede-engine.service; then echo 'the engine must not start before its configuration' >&2; exit 1; fi",
    ]
  }
}
