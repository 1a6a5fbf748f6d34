//! The `sockstack` command.

fn main() {
    println!("sockstack");
}
